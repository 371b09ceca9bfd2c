/**
 * Table entities as the host's Tables extension hands them to script languages (`ConvertEntityToJObject` in
 * Microsoft.Azure.WebJobs.Extensions.Tables): every stored property under its stored name, `PartitionKey` and
 * `RowKey` included, `Timestamp` and `odata.etag` removed, values as Newtonsoft.Json writes the .NET types
 * (Int64 as a JSON number, DateTime as an ISO date with offset, binary as base64, Guid as a string).
 *
 * Entities come from `@azure/data-tables` with `disableTypeConversion: true`, so every typed value is still the
 * service's text (`{ value, type }`) and nothing is lost on the way (Int64 would otherwise become a BigInt, which
 * JSON cannot write).
 */

/** An entity as `@azure/data-tables` returns it with `disableTypeConversion: true`. */
export type RawTableEntity = Record<string, unknown>;

interface EdmValue {
  value: unknown;
  type: string;
}

/** The SDK renames the system properties; the extension keeps the stored names. */
const SYSTEM_NAMES: Record<string, string | undefined> = {
  partitionKey: 'PartitionKey',
  rowKey: 'RowKey',
  timestamp: undefined,
  etag: undefined,
  'odata.etag': undefined,
  Timestamp: undefined,
};

function isEdmValue(value: unknown): value is EdmValue {
  return typeof value === 'object' && value !== null && 'type' in value && 'value' in value;
}

/** Newtonsoft's DateTimeOffset format: seven fraction digits at most, trailing zeros dropped, `+00:00` for UTC. */
export function newtonsoftDate(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!match) return JSON.stringify(text);
  const fraction = (match[2] ?? '').slice(0, 7).replace(/0+$/, '');
  const zone = match[3] === undefined || match[3] === 'Z' ? '+00:00' : match[3];
  return JSON.stringify(`${match[1] ?? ''}${fraction ? `.${fraction}` : ''}${zone}`);
}

/** The JSON text of one property value. */
function valueJson(value: unknown): string {
  if (!isEdmValue(value)) return JSON.stringify(value) ?? 'null';
  const text = String(value.value);
  switch (value.type) {
    case 'Boolean':
      return text === 'true' ? 'true' : 'false';
    case 'Int32':
      return String(Number(text));
    case 'Int64':
      // Written as the number it is, all digits (the worker's JSON.parse decides what precision survives).
      return /^-?\d+$/.test(text) ? text : JSON.stringify(text);
    case 'Double': {
      const number = Number(text);
      // Newtonsoft writes NaN and the infinities as strings.
      return Number.isFinite(number) ? JSON.stringify(number) : JSON.stringify(text);
    }
    case 'DateTime':
      return newtonsoftDate(text);
    default:
      // String, Guid, Binary (already base64 on the wire)
      return JSON.stringify(text);
  }
}

/** The JSON the extension sends for one entity. */
export function tableEntityJson(entity: RawTableEntity): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(entity)) {
    // odata.* (metadata URL, etag) are the protocol's, not the entity's: the SDK drops them before the extension sees
    // the entity.
    const name = key in SYSTEM_NAMES ? SYSTEM_NAMES[key] : key;
    if (name === undefined || name.startsWith('odata.') || value === undefined) continue;
    parts.push(`${JSON.stringify(name)}:${valueJson(value)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The JSON array the extension sends for a query. */
export function tableEntitiesJson(entities: readonly RawTableEntity[]): string {
  return `[${entities.map(tableEntityJson).join(',')}]`;
}
