/**
 * Names the storage resource each HTTP request to the storage services touches: the table partition, the queue, the
 * container (and blob). Pure: the counting proxy hands it the method, the URL, the request body (entity group
 * transactions and inserts carry their partition there) and the response body (queries and receives report how many
 * entities or messages they moved). URLs are path-style, as Azurite and the SDKs against it send them:
 * `/{account}/{table|queue|container}...`.
 */
export type Service = 'blob' | 'queue' | 'table';

export interface StorageRequest {
  service: Service;
  /** Table, queue or container name (as sent, with any resource prefix); '' for account-level calls. */
  name: string;
  /** The table partition key or blob name; '' when the request has none (table creation, a queue, a cross-partition scan). */
  part: string;
  /**
   * What the per-resource targets count: entities for a table (an entity group transaction counts each entity, a
   * query each entity it returns, at least 1), messages for a queue (a receive counts the messages it got, at
   * least 1), 1 for a blob request.
   */
  units: number;
  /** A receive that found the queue empty: polling, whose rate the listener settings set, not the work. */
  emptyReceive: boolean;
  /** A short name of the operation, for the report's detail: `get`, `insert`, `batch`, `query`, `send`, … */
  op: string;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `''` quoted OData string literal → value. */
function unquote(literal: string): string {
  return literal.replace(/''/g, "'");
}

function splitPath(url: string): { segments: string[]; query: URLSearchParams } {
  const parsed = new URL(url, 'http://storage.invalid');
  const segments = parsed.pathname.split('/').filter(Boolean).map(decode);
  // The first segment is the account (path-style addressing).
  return { segments: segments.slice(1), query: parsed.searchParams };
}

const KEY_IN_PATH = /^([^()]+)\(PartitionKey='((?:[^']|'')*)',\s*RowKey='((?:[^']|'')*)'\)$/;
const PARTITION_FILTER = /PartitionKey eq '((?:[^']|'')*)'/;

function jsonCount(body: string | undefined): number {
  if (!body) return 0;
  try {
    const parsed = JSON.parse(body) as { value?: unknown };
    return Array.isArray(parsed.value) ? parsed.value.length : 0;
  } catch {
    return 0;
  }
}

function tableRequest(method: string, url: string, requestBody: string, responseBody: string | undefined) {
  const { segments, query } = splitPath(url);
  const first = segments[0] ?? '';
  const base = { service: 'table' as const, emptyReceive: false };
  if (first === '$batch') {
    // Each inner request of the change set is one entity; they all share one partition (the service insists).
    const inner = [...requestBody.matchAll(/^(POST|PUT|PATCH|MERGE|DELETE|GET) (\S+) HTTP\/1\.1/gm)];
    let table = '';
    let part = '';
    for (const match of inner) {
      const path = splitPath(match[2] ?? '').segments[0] ?? '';
      const keyed = KEY_IN_PATH.exec(path);
      table = keyed?.[1] ?? path;
      if (keyed) {
        part = unquote(keyed[2] ?? '');
        break;
      }
    }
    if (!part) part = /"PartitionKey"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(requestBody)?.[1] ?? '';
    return { ...base, name: table, part, units: Math.max(1, inner.length), op: 'batch' };
  }
  if (first === 'Tables' || first.startsWith('Tables(')) {
    return { ...base, name: '', part: '', units: 1, op: `tables-${method.toLowerCase()}` };
  }
  const keyed = KEY_IN_PATH.exec(first);
  if (keyed) {
    const op = { GET: 'get', PUT: 'upsert-replace', PATCH: 'update', MERGE: 'update', DELETE: 'delete' }[method];
    return { ...base, name: keyed[1] ?? '', part: unquote(keyed[2] ?? ''), units: 1, op: op ?? method.toLowerCase() };
  }
  const table = first.replace(/\(\)$/, '');
  if (method === 'POST') {
    const part = /"PartitionKey"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(requestBody)?.[1] ?? '';
    return { ...base, name: table, part, units: 1, op: 'insert' };
  }
  const filter = query.get('$filter') ?? '';
  const partition = PARTITION_FILTER.exec(filter);
  return {
    ...base,
    name: table,
    part: partition ? unquote(partition[1] ?? '') : '',
    units: Math.max(1, jsonCount(responseBody)),
    op: partition ? 'query' : 'scan',
  };
}

function queueRequest(method: string, url: string, responseBody: string | undefined) {
  const { segments, query } = splitPath(url);
  const name = segments[0] ?? '';
  const base = { service: 'queue' as const, part: '' };
  if (segments[1] === 'messages') {
    if (method === 'GET') {
      const messages = (responseBody ?? '').split('<QueueMessage>').length - 1;
      const peek = query.get('peekonly') === 'true';
      return {
        ...base,
        name,
        units: Math.max(1, messages),
        emptyReceive: messages === 0 && !peek,
        op: peek ? 'peek' : 'receive',
      };
    }
    const op = { POST: 'send', DELETE: segments[2] ? 'delete' : 'clear', PUT: 'update' }[method];
    return { ...base, name, units: 1, emptyReceive: false, op: op ?? method.toLowerCase() };
  }
  const comp = query.get('comp');
  return { ...base, name, units: 1, emptyReceive: false, op: `${method.toLowerCase()}${comp ? `-${comp}` : ''}` };
}

function blobRequest(method: string, url: string) {
  const { segments, query } = splitPath(url);
  const comp = query.get('comp');
  return {
    service: 'blob' as const,
    name: segments[0] ?? '',
    part: segments.slice(1).join('/'),
    units: 1,
    emptyReceive: false,
    op: `${method.toLowerCase()}${comp ? `-${comp}` : ''}`,
  };
}

export function classifyRequest(
  service: Service,
  method: string,
  url: string,
  requestBody: string,
  responseBody: string | undefined,
): StorageRequest {
  switch (service) {
    case 'table':
      return tableRequest(method, url, requestBody, responseBody);
    case 'queue':
      return queueRequest(method, url, responseBody);
    case 'blob':
      return blobRequest(method, url);
    default: {
      const never: never = service;
      throw new Error(`unknown service ${String(never)}`);
    }
  }
}
