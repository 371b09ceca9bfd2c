// Timer-triggered functions for devhost's tests: each logs a marker line with what it received.
const { app } = require('@azure/functions');

function report(marker, timer, context) {
  context.log(
    `${marker} ${JSON.stringify({ isPastDue: timer.isPastDue, status: timer.scheduleStatus, pid: process.pid, at: new Date().toISOString() })}`,
  );
}

app.timer('tick', {
  schedule: '*/2 * * * * *',
  handler: async (timer, context) => report('TICK', timer, context),
});

app.timer('daily', {
  schedule: '0 0 2 * * *',
  handler: async (timer, context) => report('DAILY', timer, context),
});

app.timer('startup', {
  schedule: '0 0 3 1 1 *',
  runOnStartup: true,
  handler: async (timer, context) => report('STARTUP', timer, context),
});

app.timer('slow', {
  schedule: '* * * * * *',
  handler: async (timer, context) => {
    context.log(`SLOW-START ${Date.now()}`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    context.log(`SLOW-END ${Date.now()}`);
  },
});

let attempts = 0;
app.timer('flaky', {
  schedule: '0 0 4 * * *',
  runOnStartup: true,
  retry: { strategy: 'fixedDelay', maxRetryCount: 2, delayInterval: { milliseconds: 200 } },
  handler: async (timer, context) => {
    attempts += 1;
    context.log(
      `FLAKY attempt ${attempts} retryCount ${context.retryContext ? context.retryContext.retryCount : 'none'}`,
    );
    if (attempts < 3) throw new Error(`flaky attempt ${attempts}`);
  },
});
