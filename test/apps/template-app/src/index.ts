import { app } from '@azure/functions';

app.setup({
    enableHttpStream: true,
});

// Hooks, as an app adds them next to the template's setup: appTerminate reads back what appStart wrote.
app.hook.appStart(async (context) => {
    // Tests make start-up slow on purpose, to call the host before it is ready.
    const delayMs = Number(process.env.APP_START_DELAY_MS ?? 0);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    context.hookData.startedAt = 'written-by-appStart';
    console.log(`TEMPLATE appStart hookData=${JSON.stringify(context.hookData)}`);
});

app.hook.appTerminate((context) => {
    console.log(`TEMPLATE appTerminate hookData=${JSON.stringify(context.hookData)}`);
});
