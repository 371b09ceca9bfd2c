import path from 'node:path';
import { parseArgs } from 'node:util';

import { startAzurite } from './azurite';
import { StartupError } from './config/errors';
import { loadLocalSettings } from './config/localSettings';
import { BLOB_FRONT_PORT_SETTING, BLOB_FRONT_UPSTREAM_SETTING } from './eventgrid/blobFront';
import { Devhost } from './host';
import { flushConsole, HostLogger } from './log';
import { ensurePortFree, parsePort, pickFreePort } from './portCheck';

const USAGE = `Usage: devhost start [--app DIR] [--port N] [--host ADDR] [--functions a,b] [--enforce-keys] [--azurite DIR] [--verbose]
                     [--azurite-blob-port N] [--azurite-queue-port N] [--azurite-table-port N]

  --app DIR         the function app folder (package.json, host.json); default: current directory
  --port N          HTTP port; default: local.settings.json Host.LocalHttpPort, else 7071
  --host ADDR       address to listen on; default 127.0.0.1 (this machine only). Callers from elsewhere never
                    get the admin API without --enforce-keys
  --functions a,b   run only these functions
  --enforce-keys    check function keys (also --enableAuth, as Core Tools spells it)
  --azurite DIR     start an embedded Azurite keeping its data in DIR, unless AzureWebJobsStorage names
                    another account (what \`npm start\` uses)
  --azurite-blob-port N, --azurite-queue-port N, --azurite-table-port N
                    the embedded Azurite's ports (settings DEVHOST_AZURITE_BLOB_PORT, ..._QUEUE_PORT,
                    ..._TABLE_PORT); default 10000, 10001, 10002; 0 picks free ones
  --verbose         debug logs
  --grace-ms N      graceful-stop period in milliseconds (default 30000)`;

/**
 * Entry point of the `devhost` command. Exits non-zero with one line naming the problem when start-up fails, whatever
 * failed (with `--verbose`, unexpected errors also print their stack, for bug reports).
 */
export function main(argv: string[]): void {
  run(argv).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    flushConsole();
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
      'azurite-blob-port': { type: 'string' },
      'azurite-queue-port': { type: 'string' },
      'azurite-table-port': { type: 'string' },
      verbose: { type: 'boolean' },
      'grace-ms': { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? undefined : parsePort(values.port, '--port');
  const graceMs = values['grace-ms'] === undefined ? 30_000 : Number(values['grace-ms']);
  const logger = new HostLogger(values.verbose ? 'debug' : 'information');
  const appDir = path.resolve(values.app ?? process.cwd());

  let stopAzurite: (() => Promise<void>) | undefined;
  const azuritePortOption = (['blob', 'queue', 'table'] as const).find(
    (s) => values[`azurite-${s}-port`] !== undefined,
  );
  if (values.azurite === undefined && azuritePortOption !== undefined) {
    throw new StartupError(`--azurite-${azuritePortOption}-port applies to the embedded Azurite: add --azurite DIR`);
  }
  if (values.azurite !== undefined) {
    const ports = {
      blob: values['azurite-blob-port'],
      queue: values['azurite-queue-port'],
      table: values['azurite-table-port'],
    };
    stopAzurite = await startEmbeddedAzurite(appDir, values.azurite, ports, logger);
  }

  // Signals are handled from before the host starts: a stop asked for while it starts (tools send one as soon as they
  // see "Host started") runs once it is up, gracefully, instead of killing the process mid-start.
  let host: Devhost | undefined;
  let stopRequested = false;
  const stopGracefully = (running: Devhost) => {
    running
      .stop(graceMs)
      .then(() => stopAzurite?.())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`Stop failed: ${(error as Error).message}`);
        process.exit(1);
      });
  };
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      logger.warn(`Second ${signal}: exiting now.`);
      process.exit(130);
    }
    logger.info(`${signal} received: graceful stop (press Ctrl+C again to exit at once).`);
    if (host) stopGracefully(host);
    else stopRequested = true;
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    host = await Devhost.start({
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
  } catch (error) {
    // The embedded Azurite is a child process: it must not outlive a host that failed to start.
    await stopAzurite?.();
    throw error;
  }
  if (stopRequested) stopGracefully(host);
}

const AZURITE_DEFAULT_PORTS = { blob: 10000, queue: 10001, table: 10002 } as const;
type AzuriteService = keyof typeof AZURITE_DEFAULT_PORTS;

/**
 * Starts Azurite with data under `dir`, on the standard ports unless an option or setting moves them, unless the
 * app's storage setting names a real account (or an Azurite someone else runs). The app is pointed at the ports
 * Azurite really listens on through `AzureWebJobsStorage` in the environment, which local.settings.json never
 * overrides.
 */
async function startEmbeddedAzurite(
  appDir: string,
  dir: string,
  options: Record<AzuriteService, string | undefined>,
  logger: HostLogger,
): Promise<(() => Promise<void>) | undefined> {
  const settings = (await loadLocalSettings(appDir)).values;
  const setting = (name: string): string | undefined => process.env[name] ?? settings[name];
  const configured = setting('AzureWebJobsStorage');
  if (configured !== undefined && !/^\s*UseDevelopmentStorage\s*=\s*true/i.test(configured)) {
    logger.info('AzureWebJobsStorage names a storage account: not starting the embedded Azurite.');
    return undefined;
  }
  const ports: Record<AzuriteService, number> = { ...AZURITE_DEFAULT_PORTS };
  for (const service of Object.keys(ports) as AzuriteService[]) {
    const option = `--azurite-${service}-port`;
    const settingName = `DEVHOST_AZURITE_${service.toUpperCase()}_PORT`;
    const fromOption = options[service];
    const fromSetting = setting(settingName);
    if (fromOption !== undefined) ports[service] = parsePort(fromOption, option);
    else if (fromSetting !== undefined) ports[service] = parsePort(fromSetting, settingName);
    await ensurePortFree(
      ports[service],
      '127.0.0.1',
      `Azurite's ${service} port`,
      `choose another with ${option} N (or the ${settingName} setting), or stop the program using it (another Azurite? then set AzureWebJobsStorage to its connection string and leave out --azurite)`,
    );
  }
  const location = path.resolve(appDir, dir);
  // The blob port the app and people use is devhost's blob front (eventgrid/blobFront.ts), so every upload raises
  // BlobCreated for Event Grid-source functions at once; Azurite's own blob service sits behind it on a free port.
  const azurite = await startAzurite({ location, blobPort: 0, queuePort: ports.queue, tablePort: ports.table });
  // Port 0 (any free one) is resolved here: the front's port goes into the connection string before it listens.
  const frontPort =
    setting(BLOB_FRONT_PORT_SETTING) ?? String(ports.blob === 0 ? await pickFreePort('127.0.0.1') : ports.blob);
  process.env[BLOB_FRONT_PORT_SETTING] = frontPort;
  process.env[BLOB_FRONT_UPSTREAM_SETTING] = `http://127.0.0.1:${azurite.ports.blob}`;
  process.env['AzureWebJobsStorage'] = azurite.connectionString.replace(
    `BlobEndpoint=${azurite.serviceUris.blob}`,
    `BlobEndpoint=http://127.0.0.1:${frontPort}/devstoreaccount1`,
  );
  logger.info(
    `Embedded Azurite started on blob ${frontPort}, queue ${azurite.ports.queue}, table ${azurite.ports.table} (data in ${path.relative(process.cwd(), location) || '.'}).`,
  );
  return () => azurite.stop();
}
