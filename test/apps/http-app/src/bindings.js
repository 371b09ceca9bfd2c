// Input and output bindings driven by route parameters, as a user would write them.
const { app, input, output } = require('@azure/functions');

const blobIn = input.storageBlob({ path: '{container}/{name}', connection: 'AzureWebJobsStorage' });
const rowIn = input.table({
  tableName: '{table}',
  partitionKey: '{pk}',
  rowKey: '{rk}',
  connection: 'AzureWebJobsStorage',
});
const rowsIn = input.table({ tableName: '{table}', partitionKey: '{pk}', take: 10, connection: 'AzureWebJobsStorage' });
const blobOut = output.storageBlob({ path: '{container}/copy-of-{name}', connection: 'AzureWebJobsStorage' });
const queueOut = output.storageQueue({ queueName: '{queue}', connection: 'AzureWebJobsStorage' });

app.http('readBlob', {
  route: 'bindings/blob/{container}/{name}',
  methods: ['GET'],
  extraInputs: [blobIn],
  extraOutputs: [blobOut],
  handler: async (request, context) => {
    const content = context.extraInputs.get(blobIn);
    if (content === null || content === undefined) return { status: 404, body: 'no such blob' };
    context.extraOutputs.set(blobOut, Buffer.concat([Buffer.from('copy:'), Buffer.from(content)]));
    return { jsonBody: { text: Buffer.from(content).toString('utf8') } };
  },
});

app.http('readRow', {
  route: 'bindings/table/{table}/{pk}/{rk}',
  methods: ['GET'],
  extraInputs: [rowIn],
  handler: async (request, context) => ({ jsonBody: { row: context.extraInputs.get(rowIn) ?? null } }),
});

app.http('readRows', {
  route: 'bindings/table/{table}/{pk}',
  methods: ['GET'],
  extraInputs: [rowsIn],
  handler: async (request, context) => ({ jsonBody: { rows: context.extraInputs.get(rowsIn) ?? null } }),
});

app.http('sendMessage', {
  route: 'bindings/queue/{queue}',
  methods: ['POST'],
  extraOutputs: [queueOut],
  handler: async (request, context) => {
    context.extraOutputs.set(queueOut, [await request.json(), { second: true }]);
    return { status: 202 };
  },
});
