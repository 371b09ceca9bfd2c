import { StartupError } from '../config/errors';
import type { RegisteredFunction } from './coreApi';
import type { FunctionCallback, FunctionMetadata, RpcBindingInfo } from './rpcTypes';

/** Trigger types devhost can listen for. */
export const SUPPORTED_TRIGGERS = ['httpTrigger', 'queueTrigger', 'blobTrigger', 'timerTrigger'] as const;
export type TriggerType = (typeof SUPPORTED_TRIGGERS)[number];

const SUPPORTED_INPUTS = new Set(['blob', 'table']);
const SUPPORTED_OUTPUTS = new Set(['queue', 'blob', 'table', 'http']);

export interface Binding {
  /** The key in `metadata.bindings`: what `inputData`/`outputData` entries are named (`$return` for the return). */
  key: string;
  type: string;
  direction: 'in' | 'out';
  config: RpcBindingInfo;
}

/** A registered function after devhost has checked that it can run every binding. */
export interface FunctionDefinition {
  name: string;
  id: string;
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  trigger: Binding & { type: TriggerType };
  inputs: Binding[];
  outputs: Binding[];
}

function isSupportedTrigger(type: string): type is TriggerType {
  return (SUPPORTED_TRIGGERS as readonly string[]).includes(type);
}

/**
 * Checks every binding of a registration. An unsupported binding is refused here, at start, naming the function and
 * binding, rather than at the first call.
 */
export function defineFunction(registered: RegisteredFunction): FunctionDefinition {
  const { metadata } = registered;
  const name = metadata.name;
  let trigger: FunctionDefinition['trigger'] | undefined;
  const inputs: Binding[] = [];
  const outputs: Binding[] = [];
  for (const [key, config] of Object.entries(metadata.bindings)) {
    const type = config.type ?? '';
    const direction = config.direction;
    if (/trigger$/i.test(type)) {
      if (trigger) throw new StartupError(`Function "${name}" has more than one trigger binding`);
      if (!isSupportedTrigger(type)) {
        throw new StartupError(
          `Function "${name}": trigger "${type}" (binding "${key}") is not supported by devhost; supported: ${SUPPORTED_TRIGGERS.join(', ')}`,
        );
      }
      trigger = { key, type, direction: 'in', config };
    } else if (direction === 'in') {
      if (!SUPPORTED_INPUTS.has(type)) {
        throw new StartupError(
          `Function "${name}": input binding "${key}" of type "${type}" is not supported by devhost`,
        );
      }
      inputs.push({ key, type, direction: 'in', config });
    } else if (direction === 'out') {
      if (!SUPPORTED_OUTPUTS.has(type)) {
        throw new StartupError(
          `Function "${name}": output binding "${key}" of type "${type}" is not supported by devhost`,
        );
      }
      if (
        type === 'http' &&
        !/^httptrigger$/i.test(Object.values(metadata.bindings).find((b) => /trigger$/i.test(b.type ?? ''))?.type ?? '')
      ) {
        throw new StartupError(`Function "${name}": an http output needs an http trigger`);
      }
      outputs.push({ key, type, direction: 'out', config });
    } else {
      throw new StartupError(
        `Function "${name}": binding "${key}" has direction "${String(direction)}", which devhost does not support`,
      );
    }
  }
  if (!trigger) throw new StartupError(`Function "${name}" has no trigger binding`);
  return { name, id: registered.id, metadata, callback: registered.callback, trigger, inputs, outputs };
}

/** A string setting of a binding, or undefined. */
export function bindingSetting(binding: Binding, key: string): string | undefined {
  const value = binding.config[key];
  return typeof value === 'string' ? value : undefined;
}
