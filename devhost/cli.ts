import path from 'node:path';
import { parseArgs } from 'node:util';

import { startAzurite } from './azurite';
import { StartupError } from './config/errors';
import { loadLocalSettings } from './config/localSettings';
import { Devhost } from './host';
import { HostLogger } from './log';

const USAGE = `Usage: devhost start [--app DIR] [--port N] [--host ADDR] [--functions a,b] [--enforce-keys] [--azurite DIR] [--verbose]

  --app DIR         the function app folder (package.json, host.json); default: current directory
  --port N          HTTP port; default: local.settings.json Host.LocalHttpPort, else 7071
  --host ADDR       address to listen on; default 127.0.0.1 (this machine only). Callers from elsewhere never
                    get the admin API without --enforce-keys
  --functions a,b   run only these functions
  --enforce-keys    check function keys (also --enableAuth, as Core Tools spells it)
  --azurite DIR     start an embedded Azurite keeping its data in DIR, unless AzureWebJobsStorage names
                    another account (what \`npm start\` uses)
  --verbose         debug logs
  --grace-ms N      graceful-stop period in milliseconds (default 30000)`;

/**
 * Entry point of the `devhost` command. Exits non-zero with one line naming the problem when start-up fails, whatever
 * failed (with `--verbose`, unexpected errors also print their stack, for bug reports).
 */
export function main(argv: string[]): void {
  run(argv).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`devhost: ${message.split('\n')[0] ?? ''}\n`);
    if (!(error instanceof StartupError) && argv.includes('--verbose') && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`);
    }
    process.exit(1);
  });
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'start') {
    process.stdout.write(`${USAGE}\n`);
    if (command !== undefined && command !== 'help' && command !== '--help') process.exitCode = 2;
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      app: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      functions: { type: 'string' },
      'enforce-keys': { type: 'boolean' },
      enableAuth: { type: 'boolean' },
      azurite: { type: 'string' },
      verbose: { type: 'boolean' },
      'grace-ms': { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new StartupError(`--port must be a port number, got "${values.port}"`);
  }
  const graceMs = values['grace-ms'] === undefined ? 30_000 : Number(values['grace-ms']);
  const logger = new HostLogger(values.verbose ? 'debug' : 'information');
  const appDir = path.resolve(values.app ?? process.cwd());

  let stopAzurite: (() => Promise<void>) | undefined;
  if (values.azurite !== undefined) {
    stopAzurite = await startEmbeddedAzurite(appDir, values.azurite, logger);
  }

  const host = await Devhost.start({
    appDir,
    port,
    host: values.host,
    functions: values.functions
      ?.split(',')
      .map((f) => f.trim())
      .filter(Boolean),
    enforceKeys: Boolean(values['enforce-keys'] || values.enableAuth),
    logger,
  });
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      logger.warn(`Second ${signal}: exiting now.`);
      process.exit(130);
    }
    logger.info(`${signal} received: graceful stop (press Ctrl+C again to exit at once).`);
    host
      .stop(graceMs)
      .then(() => stopAzurite?.())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`Stop failed: ${(error as Error).message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

/**
 * Starts Azurite on the standard ports with data under `dir`, unless the app's storage setting names a real account
 * (or an Azurite someone else runs on other ports).
 */
async function startEmbeddedAzurite(
  appDir: string,
  dir: string,
  logger: HostLogger,
): Promise<(() => Promise<void>) | undefined> {
  const configured =
    process.env['AzureWebJobsStorage'] ?? (await loadLocalSettings(appDir)).values['AzureWebJobsStorage'];
  if (configured !== undefined && !/^\s*UseDevelopmentStorage\s*=\s*true/i.test(configured)) {
    logger.info('AzureWebJobsStorage names a storage account: not starting the embedded Azurite.');
    return undefined;
  }
  const location = path.resolve(appDir, dir);
  const azurite = await startAzurite({ location, blobPort: 10000, queuePort: 10001, tablePort: 10002 });
  logger.info(`Embedded Azurite started (data in ${path.relative(process.cwd(), location) || '.'}).`);
  return () => azurite.stop();
}
