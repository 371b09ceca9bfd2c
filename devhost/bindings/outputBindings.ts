import type { TableEntity } from '@azure/data-tables';

import type { Binding } from '../core/functionDefinition';
import type { RpcTypedData } from '../core/rpcTypes';
import { sendCreatingQueue } from '../storage/restQueue';
import { accountFor, type BindingServices, encodeQueueMessage, splitBlobPath } from './bindingContext';
import { type BindingData, resolveBindingExpression } from './expressions';

/** Decodes an output value the way the host's `TypedData.ToObject()` does. */
export function fromOutputData(data: RpcTypedData): unknown {
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (data.int !== undefined && data.int !== null) return data.int;
  if (data.double !== undefined && data.double !== null) return data.double;
  return undefined;
}

/** A JSON array (or a string holding one) becomes one item per element, as the host's collector binding does. */
function asItems(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string' && value.trim().startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // not JSON: a single message
    }
  }
  return [value];
}

function queueText(item: unknown): string {
  if (typeof item === 'string') return item;
  if (Buffer.isBuffer(item)) return item.toString('utf8');
  return JSON.stringify(item);
}

function resolve(binding: Binding, key: string, data: BindingData, env: NodeJS.ProcessEnv): string {
  const value = binding.config[key];
  if (typeof value !== 'string' || value === '') throw new Error(`output binding "${binding.key}" has no ${key}`);
  return resolveBindingExpression(value, data, env);
}

async function writeQueue(
  binding: Binding,
  value: unknown,
  data: BindingData,
  services: BindingServices,
  fn: string,
): Promise<void> {
  const queueName = resolve(binding, 'queueName', data, services.env).toLowerCase();
  const { account, connectionKey } = accountFor(services, binding, fn);
  const queue = account.hostQueue(queueName);
  for (const item of asItems(value)) {
    if (item === null || item === undefined) continue;
    await sendCreatingQueue(queue, encodeQueueMessage(queueText(item), services.queues.messageEncoding));
  }
  services.notifyQueueWritten(connectionKey, queueName);
}

async function writeBlob(
  binding: Binding,
  value: unknown,
  data: BindingData,
  services: BindingServices,
  fn: string,
): Promise<void> {
  const { container, blobName } = splitBlobPath(resolve(binding, 'path', data, services.env));
  const { account, connectionKey } = accountFor(services, binding, fn);
  const containerClient = account.container(container);
  await containerClient.createIfNotExists();
  const body = Buffer.isBuffer(value)
    ? value
    : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
  await containerClient.getBlockBlobClient(blobName).upload(body, body.length);
  services.notifyBlobWritten(connectionKey, container);
}

async function writeTable(
  binding: Binding,
  value: unknown,
  data: BindingData,
  services: BindingServices,
  fn: string,
): Promise<void> {
  const table = accountFor(services, binding, fn).account.table(resolve(binding, 'tableName', data, services.env));
  await table.createTable();
  const configuredPartition = binding.config['partitionKey'];
  const configuredRow = binding.config['rowKey'];
  for (const item of asItems(value)) {
    if (typeof item !== 'object' || item === null)
      throw new Error(`table output "${binding.key}" needs entity objects`);
    const { PartitionKey, RowKey, partitionKey, rowKey, ...properties } = item as Record<string, unknown>;
    const pk =
      PartitionKey ??
      partitionKey ??
      (typeof configuredPartition === 'string'
        ? resolveBindingExpression(configuredPartition, data, services.env)
        : undefined);
    const rk =
      RowKey ??
      rowKey ??
      (typeof configuredRow === 'string' ? resolveBindingExpression(configuredRow, data, services.env) : undefined);
    if (typeof pk !== 'string' || typeof rk !== 'string') {
      throw new Error(`table output "${binding.key}": every entity needs string PartitionKey and RowKey`);
    }
    const entity: TableEntity = { partitionKey: pk, rowKey: rk, ...properties };
    await table.upsertEntity(entity, 'Replace');
  }
}

/**
 * Carries out an invocation's outputs (queue, blob, table), each with its binding expressions resolved against the
 * trigger data. Outputs are written only when the function succeeded.
 */
export async function writeOutputBindings(
  outputs: readonly Binding[],
  values: ReadonlyMap<string, RpcTypedData>,
  data: BindingData,
  services: BindingServices,
  functionName: string,
): Promise<void> {
  for (const binding of outputs) {
    const rpc = values.get(binding.key);
    if (!rpc || binding.type === 'http') continue;
    const value = fromOutputData(rpc);
    if (value === undefined || value === null) continue;
    switch (binding.type) {
      case 'queue':
        await writeQueue(binding, value, data, services, functionName);
        break;
      case 'blob':
        await writeBlob(binding, value, data, services, functionName);
        break;
      case 'table':
        await writeTable(binding, value, data, services, functionName);
        break;
      default:
        throw new Error(`output binding type "${binding.type}" is not supported`);
    }
  }
}
