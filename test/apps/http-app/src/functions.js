// A plain v4 app, as a user would write it: devhost must run it unmodified.
const { app } = require('@azure/functions');

app.http('hello', {
  methods: ['GET', 'POST'],
  handler: async (request, context) => {
    context.log(`hello called with ${request.method}`);
    const name = request.query.get('name') ?? (await request.text()) ?? 'world';
    return { status: 200, jsonBody: { greeting: `Hello, ${name || 'world'}`, invocationId: context.invocationId } };
  },
});

app.http('getItem', {
  route: 'items/{id:int}',
  methods: ['GET'],
  handler: async (request) => ({ jsonBody: { id: request.params.id } }),
});

app.http('secret', {
  route: 'secret',
  authLevel: 'function',
  handler: async () => ({ body: 'function-level ok' }),
});

app.http('adminOnly', {
  route: 'admin-only',
  authLevel: 'admin',
  handler: async () => ({ body: 'admin ok' }),
});

app.http('cookies', {
  methods: ['GET'],
  handler: async () => ({
    status: 201,
    headers: { 'x-custom': 'yes' },
    cookies: [{ name: 'c', value: 'v', httpOnly: true }],
    body: 'made',
  }),
});

app.http('boom', {
  methods: ['GET'],
  handler: async () => {
    throw new Error('boom from handler');
  },
});
