import { app, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";

export async function throwing(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    throw new Error('thrown by the function');
};

app.http('throwing', {
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: throwing
});
