import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Azurite's well-known development account key (public; not a secret). */
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const START_TIMEOUT_MS = 30_000;

export interface AzuriteOptions {
  /** Folder for Azurite's data; undefined keeps everything in memory. */
  location?: string | undefined;
  /** Ports; 0 (the default) picks free ones. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /** Where Azurite's own output goes (default: discarded). */
  onOutput?: (line: string) => void;
  /**
   * HTTPS with this PEM certificate and key, and OAuth (`--oauth basic`: bearer tokens are accepted, their claims
   * checked, signatures not), so identity-based connections can be tried locally. Shared key still works.
   */
  tls?: { certPath: string; keyPath: string; oauth: boolean };
}

export interface RunningAzurite {
  connectionString: string;
  /** The service endpoints (`https://` with `tls`), for identity-based settings (`__blobServiceUri`, ...). */
  serviceUris: { blob: string; queue: string; table: string };
  ports: { blob: number; queue: number; table: number };
  process: ChildProcess;
  stop(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';

function serviceUrisOf(ports: { blob: number; queue: number; table: number }, protocol: 'http' | 'https') {
  return {
    blob: `${protocol}://127.0.0.1:${ports.blob}/${ACCOUNT}`,
    queue: `${protocol}://127.0.0.1:${ports.queue}/${ACCOUNT}`,
    table: `${protocol}://127.0.0.1:${ports.table}/${ACCOUNT}`,
  };
}

/** The connection string for an Azurite on the given ports. */
export function azuriteConnectionString(
  ports: { blob: number; queue: number; table: number },
  protocol: 'http' | 'https' = 'http',
): string {
  const uris = serviceUrisOf(ports, protocol);
  return (
    `DefaultEndpointsProtocol=${protocol};AccountName=${ACCOUNT};AccountKey=${DEV_KEY};` +
    `BlobEndpoint=${uris.blob};QueueEndpoint=${uris.queue};TableEndpoint=${uris.table};`
  );
}

/**
 * Starts Azurite (from the project's own node_modules) as a child process, with telemetry off and the API version
 * check skipped (the storage SDKs are often newer than the emulator), and waits until all three services listen.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const entry = require.resolve('azurite/dist/src/azurite.js');
  const args = [
    entry,
    '--blobPort',
    String(options.blobPort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--silent',
    '--loose',
  ];
  if (options.tls) {
    args.push('--cert', path.resolve(options.tls.certPath), '--key', path.resolve(options.tls.keyPath));
    if (options.tls.oauth) args.push('--oauth', 'basic');
  }
  if (options.location) {
    await mkdir(options.location, { recursive: true });
    args.push('--location', path.resolve(options.location));
  } else {
    args.push('--inMemoryPersistence');
  }
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: options.location ?? process.cwd(),
  });
  const ports: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${START_TIMEOUT_MS}ms`));
    }, START_TIMEOUT_MS);
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        options.onOutput?.(line);
        const match = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^:]+:(\d+)/.exec(
          line,
        );
        if (match?.[1] && match[2]) ports[match[1].toLowerCase() as 'blob' | 'queue' | 'table'] = Number(match[2]);
        if (ports.blob && ports.queue && ports.table) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code} before it was ready (ports in use?)`));
    });
  });
  const ready = { blob: ports.blob ?? 0, queue: ports.queue ?? 0, table: ports.table ?? 0 };
  const protocol = options.tls ? 'https' : 'http';
  return {
    connectionString: azuriteConnectionString(ready, protocol),
    serviceUris: serviceUrisOf(ready, protocol),
    ports: ready,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
