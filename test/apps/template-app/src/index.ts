import { app } from '@azure/functions';

app.setup({
    enableHttpStream: true,
});

// Hooks, as an app adds them next to the template's setup: appTerminate reads back what appStart wrote.
app.hook.appStart((context) => {
    context.hookData.startedAt = 'written-by-appStart';
    console.log(`TEMPLATE appStart hookData=${JSON.stringify(context.hookData)}`);
});

app.hook.appTerminate((context) => {
    console.log(`TEMPLATE appTerminate hookData=${JSON.stringify(context.hookData)}`);
});
