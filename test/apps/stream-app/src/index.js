// HTTP streaming: the library runs its own HTTP server and the host proxies requests to it.
const { Readable } = require('node:stream');
const { app } = require('@azure/functions');

app.setup({ enableHttpStream: true });

app.http('upload', {
  methods: ['POST'],
  handler: async (request) => {
    let bytes = 0;
    for await (const chunk of request.body) bytes += chunk.length;
    return { jsonBody: { bytes, id: request.params.id ?? null } };
  },
});

app.http('countdown', {
  methods: ['GET'],
  handler: async () => {
    const stream = Readable.from(['3\n', '2\n', '1\n', 'liftoff\n']);
    return { body: stream, headers: { 'content-type': 'text/plain' } };
  },
});
