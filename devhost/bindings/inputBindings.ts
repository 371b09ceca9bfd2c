import { odata } from '@azure/data-tables';

import type { Binding } from '../core/functionDefinition';
import type { RpcParameterBinding, RpcTypedData } from '../core/rpcTypes';
import { accountFor, type BindingServices, splitBlobPath } from './bindingContext';
import { type BindingData, resolveBindingExpression } from './expressions';

/** Table entities as the host hands them to script languages: PascalCase system properties. */
function toHostEntity(entity: Record<string, unknown>): Record<string, unknown> {
  const { partitionKey, rowKey, timestamp, etag: _etag, ...properties } = entity;
  return { PartitionKey: partitionKey, RowKey: rowKey, Timestamp: timestamp, ...properties };
}

function setting(binding: Binding, key: string, data: BindingData, env: NodeJS.ProcessEnv): string | undefined {
  const value = binding.config[key];
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string' || value === '') return undefined;
  return resolveBindingExpression(value, data, env);
}

async function readBlobInput(
  binding: Binding,
  data: BindingData,
  services: BindingServices,
  fn: string,
): Promise<RpcTypedData | undefined> {
  const blobPath = setting(binding, 'path', data, services.env);
  if (!blobPath) throw new Error(`blob input "${binding.key}" has no path`);
  const { container, blobName } = splitBlobPath(blobPath);
  const { account } = accountFor(services, binding, fn);
  try {
    const bytes = await account.container(container).getBlobClient(blobName).downloadToBuffer();
    // Script languages get a string unless dataType asks for binary (as the host does).
    return binding.config.dataType === 'binary' ? { bytes } : { string: bytes.toString('utf8') };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined; // missing blob binds to null
    throw error;
  }
}

async function readTableInput(
  binding: Binding,
  data: BindingData,
  services: BindingServices,
  fn: string,
): Promise<RpcTypedData | undefined> {
  const tableName = setting(binding, 'tableName', data, services.env);
  if (!tableName) throw new Error(`table input "${binding.key}" has no tableName`);
  const table = accountFor(services, binding, fn).account.table(tableName);
  const partitionKey = setting(binding, 'partitionKey', data, services.env);
  const rowKey = setting(binding, 'rowKey', data, services.env);
  if (partitionKey !== undefined && rowKey !== undefined) {
    try {
      const entity = await table.getEntity<Record<string, unknown>>(partitionKey, rowKey);
      return { json: JSON.stringify(toHostEntity(entity)) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }
  const filterSetting = setting(binding, 'filter', data, services.env);
  const takeSetting = binding.config['take'];
  const take = typeof takeSetting === 'number' ? takeSetting : takeSetting ? Number(takeSetting) : undefined;
  // The partition key comes from configuration, but quote it with odata anyway so a value with a quote cannot
  // change the query.
  const partitionFilter = partitionKey !== undefined ? odata`PartitionKey eq ${partitionKey}` : undefined;
  const filter = [partitionFilter, filterSetting]
    .filter(Boolean)
    .map((f) => `(${f})`)
    .join(' and ');
  const entities: Record<string, unknown>[] = [];
  try {
    for await (const entity of table.listEntities<Record<string, unknown>>({
      queryOptions: filter ? { filter } : {},
    })) {
      entities.push(toHostEntity(entity));
      if (take !== undefined && entities.length >= take) break;
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return { json: JSON.stringify(entities) };
}

/** Reads every input binding of an invocation, resolving binding expressions against the trigger data. */
export async function readInputBindings(
  inputs: readonly Binding[],
  data: BindingData,
  services: BindingServices,
  functionName: string,
): Promise<RpcParameterBinding[]> {
  const result: RpcParameterBinding[] = [];
  for (const binding of inputs) {
    const value =
      binding.type === 'blob'
        ? await readBlobInput(binding, data, services, functionName)
        : await readTableInput(binding, data, services, functionName);
    if (value !== undefined) result.push({ name: binding.key, data: value });
  }
  return result;
}
