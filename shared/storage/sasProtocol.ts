import { SASProtocol } from '@azure/storage-blob';

/**
 * The SAS protocol (`spr`) for a URL on `endpoint`: https only whenever the endpoint is https, so a SAS URL cannot be
 * used over plain http (where it could be read off the wire). Azurite's plain-http endpoint needs `https,http`.
 */
export function sasProtocolFor(endpoint: string): SASProtocol {
  return new URL(endpoint).protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp;
}
