// Exercises the hook API: devhost must run hooks in the worker's order with the worker's context shapes.
const { app } = require('@azure/functions');

app.hook.appStart((context) => {
  context.hookData.startedAt = 'app-start';
  console.log('HOOK appStart');
});

app.hook.preInvocation((context) => {
  context.hookData.pre = true;
  if (context.invocationContext.functionName === 'wrapped') {
    const original = context.functionHandler;
    context.functionHandler = async (...args) => {
      const response = await original(...args);
      return { ...response, headers: { 'x-wrapped': 'by-pre-hook' } };
    };
  }
  console.log(`HOOK preInvocation ${context.invocationContext.functionName}`);
});

app.hook.postInvocation((context) => {
  console.log(
    `HOOK postInvocation ${context.invocationContext.functionName} pre=${context.hookData.pre} error=${context.error ? context.error.message : 'none'}`,
  );
  if (context.invocationContext.functionName === 'rescued' && context.error) {
    context.error = null;
    context.result = { status: 200, body: 'rescued by post hook' };
  }
});

app.hook.appTerminate(() => {
  console.log('HOOK appTerminate');
});

app.http('wrapped', { methods: ['GET'], handler: async () => ({ body: 'inner' }) });

app.http('rescued', {
  methods: ['GET'],
  handler: async () => {
    throw new Error('fails before the post hook');
  },
});

app.http('slow', {
  methods: ['GET'],
  handler: async (request) => {
    const ms = Number(request.query.get('ms') ?? '1500');
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { body: `slept ${ms}` };
  },
});
