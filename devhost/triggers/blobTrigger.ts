import type { BlobGetPropertiesResponse } from '@azure/storage-blob';

import { resolveAppSettings } from '../bindings/expressions';
import { BlobPathError, BlobPathPattern } from '../blob/blobPathPattern';
import { BlobReceipts, HOSTS_CONTAINER } from '../blob/blobReceipts';
import { BlobScanner } from '../blob/blobScanner';
import { blobTriggerEvent, connectionSettingName, supportsDeferredBinding } from '../blob/blobTriggerEvent';
import { resolveConnectionString } from '../config/connections';
import { StartupError } from '../config/errors';
import type { FunctionDefinition } from '../core/functionDefinition';
import type { StorageAccount } from '../storage/account';
import type { ListenerFactory, ListenerServices, TriggerListener } from './listener';
import { Notifier } from './notifier';
import { QueueListener, type QueueMessageContext, receiveVisibilityFrom } from './queueListener';

/** The internal queue message (`BlobTriggerQueueWriter`), and what `webjobs-blobtrigger-poison` receives. */
export interface BlobTriggerMessage {
  Type: 'BlobTrigger';
  FunctionId: string;
  BlobType: 'BlockBlob' | 'PageBlob' | 'AppendBlob';
  ContainerName: string;
  BlobName: string;
  ETag: string;
}

export const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';

export function blobTriggerQueueName(hostId: string): string {
  return `azure-webjobs-blobtrigger-${hostId}`;
}

interface BlobFunction {
  fn: FunctionDefinition;
  functionId: string;
  pattern: BlobPathPattern;
  account: StorageAccount;
  connectionString: string;
}

function prepare(fn: FunctionDefinition, services: ListenerServices): BlobFunction {
  const configured = fn.trigger.config['path'];
  if (typeof configured !== 'string' || configured.trim() === '') {
    throw new StartupError(`Function "${fn.name}": blobTrigger needs a path`);
  }
  let pattern: BlobPathPattern;
  try {
    pattern = BlobPathPattern.parse(resolveAppSettings(configured, services.env));
  } catch (error) {
    if (error instanceof BlobPathError || error instanceof Error) {
      throw new StartupError(`Function "${fn.name}": ${error.message}`);
    }
    throw error;
  }
  const source = fn.trigger.config['source'];
  if (typeof source === 'string' && source.toLowerCase() === 'eventgrid') {
    throw new StartupError(
      `Function "${fn.name}": blob triggers with source "EventGrid" need an Event Grid subscription, which devhost does not provide; use the default polling source locally`,
    );
  }
  const connectionString = resolveConnectionString(
    fn.trigger.config['connection'],
    services.env,
    `Function "${fn.name}"`,
  );
  return {
    fn,
    functionId: `Host.Functions.${fn.name}`,
    pattern,
    account: services.accounts.get(connectionString),
    connectionString,
  };
}

function encode(text: string, encoding: 'base64' | 'none'): string {
  return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
}

function blobTypeOf(value: string | undefined): BlobTriggerMessage['BlobType'] {
  return value === 'PageBlob' || value === 'AppendBlob' ? value : 'BlockBlob';
}

/**
 * The blob trigger in the host's two stages: one scanner per host finds new blob versions and, guarded by a receipt,
 * puts one message per function and version on the internal queue `azure-webjobs-blobtrigger-{hostId}`; a queue
 * listener on every host runs the function from that queue, so failures are retried and, after
 * `poisonBlobThreshold` attempts, the message moves to `webjobs-blobtrigger-poison`.
 */
export const createBlobListeners: ListenerFactory = (functions, services) => {
  if (functions.length === 0) return [];
  const blobFunctions = functions.map((fn) => prepare(fn, services));
  const byId = new Map(blobFunctions.map((entry) => [entry.functionId, entry]));
  const hostAccount = services.accounts.get(services.hostConnectionString);
  const receipts = new BlobReceipts(hostAccount.container(HOSTS_CONTAINER), services.hostId);
  const queueName = blobTriggerQueueName(services.hostId);
  const queue = hostAccount.queue(queueName);
  const queueKey = Notifier.key(services.hostConnectionString, queueName);
  const { blobs, queues } = services.options;
  const scanner = new BlobScanner(services.logger);
  let queueCreated = false;

  for (const entry of blobFunctions) {
    const container = entry.account.container(entry.pattern.container);
    scanner.watch(Notifier.key(entry.connectionString, entry.pattern.container), container, async (candidate) => {
      if (!entry.pattern.match(candidate.name)) return true;
      const outcome = await receipts.claim(
        entry.functionId,
        candidate.etag,
        entry.pattern.container,
        candidate.name,
        async () => {
          if (!queueCreated) {
            await queue.createIfNotExists();
            queueCreated = true;
          }
          const message: BlobTriggerMessage = {
            Type: 'BlobTrigger',
            FunctionId: entry.functionId,
            BlobType: 'BlockBlob',
            ContainerName: entry.pattern.container,
            BlobName: candidate.name,
            ETag: candidate.etag,
          };
          await queue.sendMessage(encode(JSON.stringify(message, undefined, 2), queues.messageEncoding));
        },
      );
      if (outcome === 'queued') services.queueWrites.notify(queueKey);
      return outcome !== 'busy';
    });
  }

  const execute = async (message: QueueMessageContext): Promise<boolean> => {
    let parsed: BlobTriggerMessage;
    try {
      parsed = JSON.parse(message.text ?? '') as BlobTriggerMessage;
      if (typeof parsed.FunctionId !== 'string' || typeof parsed.BlobName !== 'string') throw new Error('fields');
    } catch {
      services.logger.warn(`Invalid message in blob trigger queue '${queueName}' (id ${message.id}); discarded.`);
      return true;
    }
    const entry = byId.get(parsed.FunctionId);
    if (!entry) return true; // a function of another version of the app, or disabled here
    const blob = entry.account.container(parsed.ContainerName).getBlobClient(parsed.BlobName);
    let properties: BlobGetPropertiesResponse;
    try {
      properties = await blob.getProperties();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return true; // deleted blobs never trigger
      throw error;
    }
    if (properties.etag !== parsed.ETag) {
      // Overwritten since it was queued: the new version has its own receipt; make sure it is seen soon.
      scanner.wake();
      return true;
    }
    const insertedOn = (message.insertedOn ?? new Date()).toISOString();
    const { event } = await blobTriggerEvent({
      blob,
      containerName: parsed.ContainerName,
      blobName: parsed.BlobName,
      pattern: entry.pattern,
      dataType: entry.fn.trigger.config['dataType'],
      ...(supportsDeferredBinding(entry.fn.trigger.config)
        ? { deferredConnection: connectionSettingName(entry.fn.trigger.config) }
        : {}),
      etag: parsed.ETag,
      reason: `New blob detected(${blobTypeOf(properties.blobType)}): ${parsed.ContainerName}/${parsed.BlobName}`,
      details: (p) =>
        `MessageId: ${message.id}, DequeueCount: ${message.dequeueCount}, InsertedOn: ${insertedOn}, BlobCreated: ${p.createdOn?.toISOString() ?? ''}, BlobLastModified: ${p.lastModified?.toISOString() ?? ''}`,
    });
    const outcome = await services.invoker.invoke(entry.fn, event, services.retryPolicy(entry.fn));
    return outcome.status === 'succeeded';
  };

  // The host derives the internal queue's options from `extensions.blobs`: at most maxDegreeOfParallelism blob
  // invocations at once, across every blob function of the app.
  const batchSize = Math.min(32, Math.floor(blobs.maxDegreeOfParallelism / 2) + 1);
  const visibility = receiveVisibilityFrom(services.env);
  const queueListener = new QueueListener({
    queue,
    poisonQueue: hostAccount.queue(BLOB_POISON_QUEUE),
    batchSize,
    newBatchThreshold: Math.max(0, blobs.maxDegreeOfParallelism - batchSize),
    maxPollingIntervalMs: queues.maxPollingIntervalMs,
    visibilityTimeoutMs: 0,
    maxDequeueCount: blobs.poisonBlobThreshold,
    messageEncoding: queues.messageEncoding,
    logger: services.logger,
    ...(visibility ? { receiveVisibilityMs: visibility } : {}),
    process: execute,
    onWake: (wake) => services.queueWrites.subscribe(queueKey, wake),
    onPoisoned: (poisonName) => services.queueWrites.notify(Notifier.key(services.hostConnectionString, poisonName)),
  });
  const unsubscribes: (() => void)[] = [];

  const listener: TriggerListener = {
    start: () => {
      for (const entry of blobFunctions) {
        unsubscribes.push(
          services.blobWrites.subscribe(Notifier.key(entry.connectionString, entry.pattern.container), () =>
            scanner.wake(),
          ),
        );
      }
      scanner.start();
      queueListener.start();
      return Promise.resolve();
    },
    stop: async () => {
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      await Promise.all([scanner.stop(), queueListener.stop()]);
    },
  };
  return [listener];
};
