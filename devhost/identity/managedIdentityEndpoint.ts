import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { keysEqual } from '../http/keys';
import type { HostLogger } from '../log';

/** Turns the endpoint on: devhost then plays the platform's managed identity for the app and for itself. */
export const MANAGED_IDENTITY_SETTING = 'DEVHOST_MANAGED_IDENTITY';
/** The tenant the tokens name (`tid`, and the issuer); a fixed local one by default. */
export const MANAGED_IDENTITY_TENANT_SETTING = 'DEVHOST_MANAGED_IDENTITY_TENANT_ID';

const API_VERSION = '2019-08-01';
const TOKEN_LIFETIME_SECONDS = 60 * 60;
/** Tokens start a little in the past, so small clock differences between processes do not matter. */
const NOT_BEFORE_SKEW_SECONDS = 5 * 60;

/** A stable GUID from a name, so the same identity has the same object id on every run. */
function guidFrom(name: string): string {
  const hex = createHash('sha256').update(`devhost-managed-identity:${name}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * An unsigned JWT (`alg: none`) with the claims Azurite's `--oauth basic` checks (iss from sts.windows.net, aud,
 * iat/nbf/exp) and the `oid`/`tid` Get User Delegation Key reads. Azurite does not verify signatures in basic mode;
 * Azure Storage would refuse it, which is right: these tokens are for the local emulator only.
 */
export function unsignedAccessToken(claims: {
  resource: string;
  tenantId: string;
  objectId: string;
  clientId: string;
  nowSeconds: number;
}): string {
  const { nowSeconds } = claims;
  const payload = {
    aud: claims.resource,
    iss: `https://sts.windows.net/${claims.tenantId}/`,
    iat: nowSeconds - NOT_BEFORE_SKEW_SECONDS,
    nbf: nowSeconds - NOT_BEFORE_SKEW_SECONDS,
    exp: nowSeconds + TOKEN_LIFETIME_SECONDS,
    oid: claims.objectId,
    sub: claims.objectId,
    tid: claims.tenantId,
    appid: claims.clientId,
    idtyp: 'app',
  };
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
}

export interface ManagedIdentityEndpoint {
  /** `IDENTITY_ENDPOINT` */
  endpoint: string;
  /** `IDENTITY_HEADER` */
  header: string;
  close(): Promise<void>;
}

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The App Service / Functions managed identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, api-version
 * 2019-08-01), on loopback: `GET ?resource=...&api-version=2019-08-01[&client_id=|&principal_id=|&mi_res_id=]` with
 * the `X-IDENTITY-HEADER` secret answers `{ access_token, client_id, expires_on, not_before, resource, token_type }`.
 * `@azure/identity`'s ManagedIdentityCredential (and DefaultAzureCredential) in the unmodified app use it as they
 * would on Azure. The system-assigned identity and each user-assigned client id get stable object ids.
 */
export async function startManagedIdentityEndpoint(
  env: NodeJS.ProcessEnv,
  logger: HostLogger,
): Promise<ManagedIdentityEndpoint> {
  const secret = randomBytes(24).toString('base64url');
  const tenantId = env[MANAGED_IDENTITY_TENANT_SETTING]?.trim() || guidFrom('tenant');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const presented = req.headers['x-identity-header'];
    if (typeof presented !== 'string' || !keysEqual(presented, secret)) {
      return reply(res, 401, { error: 'unauthorized', message: 'X-IDENTITY-HEADER is missing or wrong' });
    }
    if (req.method !== 'GET') return reply(res, 405, { error: 'invalid_request', message: 'GET only' });
    if (url.searchParams.get('api-version') !== API_VERSION) {
      return reply(res, 400, { error: 'invalid_request', message: `api-version must be ${API_VERSION}` });
    }
    const resource = url.searchParams.get('resource');
    if (!resource) return reply(res, 400, { error: 'invalid_request', message: 'resource is required' });
    const userAssigned =
      url.searchParams.get('client_id') ??
      url.searchParams.get('principal_id') ??
      url.searchParams.get('object_id') ??
      url.searchParams.get('mi_res_id');
    const identity = userAssigned ?? 'system-assigned';
    const clientId = url.searchParams.get('client_id') ?? guidFrom(`client:${identity}`);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = unsignedAccessToken({
      resource,
      tenantId,
      objectId: guidFrom(`object:${identity}`),
      clientId,
      nowSeconds,
    });
    return reply(res, 200, {
      access_token: token,
      client_id: clientId,
      expires_on: String(nowSeconds + TOKEN_LIFETIME_SECONDS),
      not_before: String(nowSeconds - NOT_BEFORE_SKEW_SECONDS),
      resource,
      token_type: 'Bearer',
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.warn(
    `Managed identity emulated at http://127.0.0.1:${port}/msi/token: unsigned tokens that only Azurite (--oauth basic) accepts.`,
  );
  return {
    endpoint: `http://127.0.0.1:${port}/msi/token`,
    header: secret,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
