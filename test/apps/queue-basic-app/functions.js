// Queue-triggered functions for devhost's tests. Each writes what it saw to a table so the test can check it,
// and logs a marker line the test can count.
const { app, output } = require('@azure/functions');

const seen = output.table({ tableName: '%SEEN_TABLE%', connection: 'AzureWebJobsStorage' });
const next = output.storageQueue({ queueName: '%NEXT_QUEUE%', connection: 'AzureWebJobsStorage' });

app.storageQueue('inspect', {
  queueName: '%IN_QUEUE%',
  connection: 'AzureWebJobsStorage',
  extraOutputs: [seen, next],
  handler: async (message, context) => {
    const m = context.triggerMetadata;
    context.log(`SEEN ${m.id} ${process.pid}`);
    context.extraOutputs.set(seen, {
      PartitionKey: 'inspect',
      RowKey: m.id,
      body: JSON.stringify(message),
      bodyType: typeof message,
      dequeueCount: m.dequeueCount,
      hasPopReceipt: typeof m.popReceipt === 'string' && m.popReceipt.length > 0,
      insertionTime: String(m.insertionTime),
      queueTrigger: JSON.stringify(m.queueTrigger),
      promoted: typeof m.orderId === 'string' ? m.orderId : '',
      pid: process.pid,
    });
    if (message && typeof message === 'object' && message.forward)
      context.extraOutputs.set(next, { forwarded: message.forward });
    if (message && typeof message === 'object' && message.slowMs)
      await new Promise((r) => setTimeout(r, message.slowMs));
  },
});

app.storageQueue('alwaysFails', {
  queueName: '%FAIL_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: async (_message, context) => {
    context.log(`ATTEMPT ${context.triggerMetadata.dequeueCount}`);
    throw new Error('this function always fails');
  },
});

app.storageQueue('forwarded', {
  queueName: '%NEXT_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    context.log(`FORWARDED ${message.forwarded}`);
  },
});
