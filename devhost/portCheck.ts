import net from 'node:net';

import { StartupError } from './config/errors';

/**
 * Fails with one line naming the option to change when `port` on `host` is taken. Checked before starting a child
 * (Azurite) whose own failure would only say that it exited; port 0 (any free port) always passes.
 */
export async function ensurePortFree(port: number, host: string, what: string, hint: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'EADDRINUSE' ? 'is in use' : `cannot be used (${error.code ?? error.message})`;
      reject(new StartupError(`${what} ${port} ${reason}: ${hint}`));
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A port number from an option or setting: an integer 0–65535, where 0 picks a free port. */
export function parsePort(value: string, name: string): number {
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new StartupError(`${name} must be a port number from 0 to 65535, got "${value}"`);
  }
  return port;
}

/**
 * A port free on `host` right now, for a listener that must be named before it starts (the blob front goes into the
 * connection string before the host opens it). Another program could take it in between; on loopback that is rare.
 */
export async function pickFreePort(host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
