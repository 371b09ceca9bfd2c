import { app, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";

export async function adminOnly(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    return { body: 'admin only' };
};

app.http('adminOnly', {
    methods: ['GET'],
    authLevel: 'admin',
    handler: adminOnly
});
