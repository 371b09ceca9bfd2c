import { resolveAppSettings } from '../bindings/expressions';
import { resolveConnection } from '../config/connections';
import { StartupError } from '../config/errors';
import type { FunctionDefinition } from '../core/functionDefinition';
import type { TriggerEvent } from '../core/invoker';
import { HostCategory } from '../log';
import type { ListenerFactory, ListenerServices, TriggerListener } from './listener';
import { Notifier } from './notifier';
import { poisonQueueNameFor, QueueListener, type QueueMessageContext, receiveVisibilityFrom } from './queueListener';

/** Azure queue name rules: 3–63 characters, lower-case letters, digits and single dashes inside. */
export function validateQueueName(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9-]+$/.test(name)) return 'may contain only lower-case letters, digits and dashes';
  if (name.startsWith('-') || name.endsWith('-') || name.includes('--'))
    return 'may not start or end with a dash or have two in a row';
  return undefined;
}

function iso(date: Date | undefined, fallback: Date): string {
  return (date ?? fallback).toISOString();
}

/** The host's "max value" date, used when storage gives no time. */
const MAX_DATE = new Date('9999-12-31T23:59:59.999Z');

function triggerEvent(queueName: string, message: QueueMessageContext): TriggerEvent {
  const insertedOn = iso(message.insertedOn, new Date());
  return {
    reason: `New queue message detected on '${queueName}'.`,
    triggerData:
      message.text !== undefined ? { string: message.text } : { bytes: Buffer.from(message.rawText, 'base64') },
    triggerMetadata: {
      ...(message.text !== undefined ? { QueueTrigger: message.text } : {}),
      DequeueCount: message.dequeueCount,
      ExpirationTime: iso(message.expiresOn, MAX_DATE),
      Id: message.id,
      InsertionTime: insertedOn,
      NextVisibleTime: iso(message.nextVisibleOn, MAX_DATE),
      PopReceipt: message.popReceipt,
    },
    details: `MessageId: ${message.id}, DequeueCount: ${message.dequeueCount}, InsertedOn: ${insertedOn}`,
  };
}

function createListener(fn: FunctionDefinition, services: ListenerServices): TriggerListener {
  const configured = fn.trigger.config['queueName'];
  if (typeof configured !== 'string' || configured.trim() === '') {
    throw new StartupError(`Function "${fn.name}": queueTrigger needs a queueName`);
  }
  let queueName: string;
  try {
    queueName = resolveAppSettings(configured, services.env).toLowerCase();
  } catch (error) {
    throw new StartupError(`Function "${fn.name}": ${(error as Error).message}`);
  }
  const problem = validateQueueName(queueName);
  if (problem) throw new StartupError(`Function "${fn.name}": queue name "${queueName}" ${problem}`);
  const connection = resolveConnection(fn.trigger.config['connection'], services.env, `Function "${fn.name}"`);
  const account = services.accounts.get(connection);
  const poisonName = poisonQueueNameFor(queueName);
  const policy = services.retryPolicy(fn);
  if (policy) {
    // The host warns about retry support while indexing functions, a start-up line.
    services.logger
      .forCategory(HostCategory.startup)
      .warn(
        `Function "${fn.name}": retry policies are documented for timer, Event Hubs, Kafka and Cosmos DB triggers only; the host still applies them, and so does devhost.`,
      );
  }
  const { queues } = services.options;
  const visibility = receiveVisibilityFrom(services.env);
  const listener = new QueueListener({
    queue: account.hostQueue(queueName),
    poisonQueue: poisonName ? account.hostQueue(poisonName) : undefined,
    batchSize: queues.batchSize,
    newBatchThreshold: queues.newBatchThreshold,
    maxPollingIntervalMs: queues.maxPollingIntervalMs,
    visibilityTimeoutMs: queues.visibilityTimeoutMs,
    maxDequeueCount: queues.maxDequeueCount,
    messageEncoding: queues.messageEncoding,
    logger: services.logger.forCategory(HostCategory.trigger('Queue')),
    ...(visibility ? { receiveVisibilityMs: visibility } : {}),
    process: async (message) => {
      const outcome = await services.invoker.invoke(fn, triggerEvent(queueName, message), policy);
      return outcome.status === 'succeeded';
    },
    onWake: (wake) => services.queueWrites.subscribe(Notifier.key(connection.key, queueName), wake),
    onPoisoned: (poisonQueueName) => services.queueWrites.notify(Notifier.key(connection.key, poisonQueueName)),
  });
  return {
    start: () => {
      listener.start();
      return Promise.resolve();
    },
    stop: () => listener.stop(),
  };
}

/** One listener per queue-triggered function; functions on the same queue compete for its messages. */
export const createQueueListeners: ListenerFactory = (functions, services) =>
  functions.map((fn) => createListener(fn, services));
