import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { generate } from 'selfsigned';

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made now (in Node: CI installs nothing else), valid for a
 * day, in a fresh temporary folder. Azurite serves HTTPS with it; processes trust it through NODE_EXTRA_CA_CERTS.
 */
export async function localhostCertificate(): Promise<{
  certPath: string;
  keyPath: string;
  cert: string;
  dir: string;
}> {
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000);
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 25 * 60 * 60 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'devhost-tls-'));
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  await writeFile(certPath, pems.cert);
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  return { certPath, keyPath, cert: pems.cert, dir };
}
