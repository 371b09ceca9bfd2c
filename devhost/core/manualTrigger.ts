import { resolveAppSettings } from '../bindings/expressions';
import { BlobPathPattern } from '../blob/blobPathPattern';
import { blobTriggerEvent, connectionSettingName, supportsDeferredBinding } from '../blob/blobTriggerEvent';
import { resolveConnection } from '../config/connections';
import type { StorageAccounts } from '../storage/account';
import type { FunctionDefinition } from './functionDefinition';
import type { TriggerEvent } from './invoker';

/**
 * The trigger event for a run by hand (`POST /admin/functions/{name}` with `{"input": "..."}`), as Core Tools builds
 * it: a queue function gets the input as its message; a blob function reads the blob the input names
 * (`container/name`); a timer function runs with a not-past-due timer.
 */
export async function manualTriggerEvent(
  fn: FunctionDefinition,
  input: string,
  accounts: StorageAccounts,
  env: NodeJS.ProcessEnv,
): Promise<TriggerEvent> {
  const reason = 'This function was programmatically called via the host APIs.';
  switch (fn.trigger.type) {
    case 'queueTrigger':
      return { reason, triggerData: { string: input }, triggerMetadata: { QueueTrigger: input } };
    case 'blobTrigger': {
      const slash = input.indexOf('/');
      if (slash <= 0) throw new Error(`input "${input}" must name a blob as "container/name"`);
      const containerName = input.slice(0, slash);
      const blobName = input.slice(slash + 1);
      const connection = resolveConnection(fn.trigger.config['connection'], env, `Function "${fn.name}"`);
      const blob = accounts.get(connection).container(containerName).getBlobClient(blobName);
      const path = fn.trigger.config['path'];
      const pattern = BlobPathPattern.parse(resolveAppSettings(typeof path === 'string' ? path : containerName, env));
      const { event } = await blobTriggerEvent({
        blob,
        containerName,
        blobName,
        pattern,
        dataType: fn.trigger.config['dataType'],
        ...(supportsDeferredBinding(fn.trigger.config)
          ? { deferredConnection: connectionSettingName(fn.trigger.config) }
          : {}),
        reason,
      });
      return event;
    }
    case 'timerTrigger':
      return {
        reason,
        triggerData: {
          json: JSON.stringify({ Schedule: { AdjustForDST: true }, ScheduleStatus: null, IsPastDue: false }),
        },
        triggerMetadata: {},
      };
    case 'httpTrigger':
      throw new Error('HTTP functions are called on their own route');
    default: {
      const never: never = fn.trigger.type;
      throw new Error(`unknown trigger ${String(never)}`);
    }
  }
}
