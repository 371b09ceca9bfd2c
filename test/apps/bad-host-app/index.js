require('@azure/functions').app.http('x', { handler: async () => ({}) });
