import { app, HttpRequest, HttpResponseInit, InvocationContext, input } from "@azure/functions";

// Table input bindings in their three shapes: one row, a partition (take 2), a filter.
const oneRow = input.table({ tableName: '{table}', partitionKey: '{pk}', rowKey: '{rk}', connection: 'AzureWebJobsStorage' });
const firstTwo = input.table({ tableName: '{table}', partitionKey: '{pk}', take: 2, connection: 'AzureWebJobsStorage' });
const blueOnes = input.table({ tableName: '{table}', filter: "Colour eq 'blue'", connection: 'AzureWebJobsStorage' });

export async function tableRow(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    return { jsonBody: { row: context.extraInputs.get(oneRow) ?? null } };
};

export async function tableFirstTwo(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    return { jsonBody: { rows: context.extraInputs.get(firstTwo) } };
};

export async function tableBlue(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    return { jsonBody: { rows: context.extraInputs.get(blueOnes) } };
};

app.http('tableRow', { methods: ['GET'], authLevel: 'anonymous', route: 'row/{table}/{pk}/{rk}', extraInputs: [oneRow], handler: tableRow });
app.http('tableFirstTwo', { methods: ['GET'], authLevel: 'anonymous', route: 'rows/{table}/{pk}', extraInputs: [firstTwo], handler: tableFirstTwo });
app.http('tableBlue', { methods: ['GET'], authLevel: 'anonymous', route: 'blue/{table}', extraInputs: [blueOnes], handler: tableBlue });
