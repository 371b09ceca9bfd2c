import { odata } from '@azure/data-tables';

import type { Binding } from '../core/functionDefinition';
import type { RpcParameterBinding, RpcTypedData } from '../core/rpcTypes';
import { accountFor, type BindingServices, splitBlobPath } from './bindingContext';
import { type BindingData, resolveBindingExpression } from './expressions';
import { type RawTableEntity, tableEntitiesJson, tableEntityJson } from './tableEntityJson';

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

/**
 * A table input as the Tables extension reads it: one entity by partition and row key (missing: no value), or a
 * query (`filter`, `partitionKey`, `take`) as a list, combined as the extension combines them
 * (`{filter} and PartitionKey eq '{pk}'`, no parentheses; `take` of 0 or less means all).
 */
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
      const entity = await table.getEntity<RawTableEntity>(partitionKey, rowKey, { disableTypeConversion: true });
      return { json: tableEntityJson(entity) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }
  const filterSetting = setting(binding, 'filter', data, services.env);
  const takeSetting = binding.config['take'];
  const take = typeof takeSetting === 'number' ? takeSetting : takeSetting ? Number(takeSetting) : 0;
  // The partition key comes from configuration or trigger data: odata quoting keeps a quote in it from changing
  // the query, as the extension's TableClient.CreateQueryFilter does.
  const partitionFilter = partitionKey !== undefined ? odata`PartitionKey eq ${partitionKey}` : undefined;
  const filter =
    filterSetting && partitionFilter ? `${filterSetting} and ${partitionFilter}` : (filterSetting ?? partitionFilter);
  const entities: RawTableEntity[] = [];
  // A missing table fails the invocation, as the extension's query does (404 TableNotFound).
  for await (const entity of table.listEntities<RawTableEntity>({
    queryOptions: filter ? { filter } : {},
    disableTypeConversion: true,
  })) {
    entities.push(entity);
    if (take > 0 && entities.length >= take) break;
  }
  return { json: tableEntitiesJson(entities) };
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
