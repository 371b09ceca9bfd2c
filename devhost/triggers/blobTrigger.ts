import { resolveAppSettings } from '../bindings/expressions';
import { BlobPathError, BlobPathPattern } from '../blob/blobPathPattern';
import { BlobReceipts, HOSTS_CONTAINER } from '../blob/blobReceipts';
import { BlobScanner } from '../blob/blobScanner';
import { blobTriggerEvent, connectionSettingName, supportsDeferredBinding } from '../blob/blobTriggerEvent';
import {
  BLOB_POISON_QUEUE,
  blobTriggerFunctionIdOf,
  type BlobTriggerMessage,
  BlobTriggerQueue,
  blobTriggerQueueName,
  runnableBlobTriggerMessage,
} from '../blob/blobTriggerQueue';
import { resolveConnection, type StorageConnection } from '../config/connections';
import { StartupError } from '../config/errors';
import type { FunctionDefinition } from '../core/functionDefinition';
import { BlobEventSource } from '../eventgrid/blobEventSource';
import { BLOB_FRONT_PORT_SETTING } from '../eventgrid/blobFront';
import { createBlobsWebhook } from '../eventgrid/blobsWebhook';
import { HostCategory } from '../log';
import type { StorageAccount } from '../storage/account';
import type { BlobTriggerProperties } from '../storage/restBlob';
import type { ListenerFactory, ListenerServices, TriggerListener } from './listener';
import { Notifier } from './notifier';
import { QueueListener, type QueueMessageContext, receiveVisibilityFrom } from './queueListener';

export { BLOB_POISON_QUEUE, type BlobTriggerMessage, blobTriggerQueueName };

/** `StorageBlobTriggerOptions.source`: the default polls; `EventGrid` runs from the extension's webhook. */
export type BlobTriggerSource = 'LogsAndContainerScan' | 'EventGrid';

/** How often devhost's local Event Grid lists watched containers for writes no blob front saw (`0` = never). */
export const EVENTGRID_SCAN_SETTING = 'DEVHOST_EVENTGRID_SCAN_SECONDS';
const DEFAULT_EVENTGRID_SCAN_MS = 2_000;
/** With a blob front, the scan only catches writes that went around it: it can be rare. */
const DEFAULT_EVENTGRID_SCAN_WITH_FRONT_MS = 30_000;

interface BlobFunction {
  fn: FunctionDefinition;
  functionId: string;
  pattern: BlobPathPattern;
  account: StorageAccount;
  connection: StorageConnection;
  source: BlobTriggerSource;
}

function sourceOf(fn: FunctionDefinition): BlobTriggerSource {
  const source = fn.trigger.config['source'];
  if (source === undefined || source === null || source === '') return 'LogsAndContainerScan';
  if (typeof source === 'string' && source.toLowerCase() === 'eventgrid') return 'EventGrid';
  if (typeof source === 'string' && source.toLowerCase() === 'logsandcontainerscan') return 'LogsAndContainerScan';
  throw new StartupError(
    `Function "${fn.name}": blobTrigger source must be "LogsAndContainerScan" or "EventGrid", got ${JSON.stringify(source)}`,
  );
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
  const connection = resolveConnection(fn.trigger.config['connection'], services.env, `Function "${fn.name}"`);
  return {
    fn,
    functionId: `Host.Functions.${fn.name}`,
    pattern,
    account: services.accounts.get(connection),
    connection,
    source: sourceOf(fn),
  };
}

function blobTypeOf(value: string | undefined): BlobTriggerMessage['BlobType'] {
  return value === 'PageBlob' || value === 'AppendBlob' ? value : 'BlockBlob';
}

function eventGridScanIntervalMs(env: NodeJS.ProcessEnv): number {
  const configured = env[EVENTGRID_SCAN_SETTING];
  if (configured === undefined || configured.trim() === '') {
    return env[BLOB_FRONT_PORT_SETTING] ? DEFAULT_EVENTGRID_SCAN_WITH_FRONT_MS : DEFAULT_EVENTGRID_SCAN_MS;
  }
  const seconds = Number(configured);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new StartupError(`Setting "${EVENTGRID_SCAN_SETTING}" must be a number of seconds (0 turns the scan off)`);
  }
  return seconds * 1000;
}

/**
 * The blob trigger in the host's two stages. Finding blobs: for the default source, one scanner per host finds new
 * blob versions and, guarded by a receipt, queues one message per function and version; for `source: 'EventGrid'`,
 * the blobs extension's webhook queues one message per delivered event (no receipts), and devhost's local event
 * source raises those events. Running them: a queue listener on every host runs the function from the internal queue
 * `azure-webjobs-blobtrigger-{hostId}`, so failures are retried and, after `poisonBlobThreshold` attempts, the
 * message moves to `webjobs-blobtrigger-poison`. Both sources give the function the same input and metadata.
 */
export const createBlobListeners: ListenerFactory = (functions, services) => {
  if (functions.length === 0) return [];
  const blobFunctions = functions.map((fn) => prepare(fn, services));
  const byId = new Map(blobFunctions.map((entry) => [entry.functionId, entry]));
  const hostAccount = services.accounts.get(services.hostConnection);
  const hostContainer = hostAccount.internalContainer(HOSTS_CONTAINER);
  const receipts = new BlobReceipts(hostContainer, services.hostId);
  const queueName = blobTriggerQueueName(services.hostId);
  const queueKey = Notifier.key(services.hostConnection.key, queueName);
  const triggerQueue = new BlobTriggerQueue(
    hostAccount.hostQueue(queueName),
    services.options.queues.messageEncoding,
    () => services.queueWrites.notify(queueKey),
  );
  const { blobs, queues } = services.options;
  // The blobs extension writes its listeners' lines as Host.Triggers.Blob; the internal queue's listener is the
  // queues extension's, whose lines are Host.Triggers.Queue.
  const blobLog = services.logger.forCategory(HostCategory.trigger('Blob'));
  const scanner = new BlobScanner(blobLog);
  const polled = blobFunctions.filter((entry) => entry.source === 'LogsAndContainerScan');
  const eventDriven = blobFunctions.filter((entry) => entry.source === 'EventGrid');

  for (const entry of polled) {
    const container = entry.account.container(entry.pattern.container);
    scanner.watch(Notifier.key(entry.connection.key, entry.pattern.container), container, async (candidate) => {
      if (!entry.pattern.match(candidate.name)) return true;
      const outcome = await receipts.claim(
        entry.functionId,
        candidate.etag,
        entry.pattern.container,
        candidate.name,
        () =>
          triggerQueue.enqueue({
            Type: 'BlobTrigger',
            FunctionId: entry.functionId,
            BlobType: 'BlockBlob',
            ContainerName: entry.pattern.container,
            BlobName: candidate.name,
            ETag: candidate.etag,
          }),
      );
      return outcome !== 'busy';
    });
  }

  // The blobs extension registers its webhook whatever the sources; Event Grid may target any blob function.
  services.webhooks.register(
    'blobs',
    createBlobsWebhook({
      queue: triggerQueue,
      logger: blobLog,
      resolveFunctionId: (functionName) => {
        const short = functionName.replace(/^Host\./, '');
        const entry = blobFunctions.find(
          (candidate) => candidate.functionId === functionName || candidate.functionId === `Host.${short}`,
        );
        return entry?.functionId;
      },
    }),
  );
  const eventSource =
    eventDriven.length > 0
      ? new BlobEventSource({
          webhooks: services.webhooks,
          hostContainer,
          hostId: services.hostId,
          logger: blobLog,
          scanIntervalMs: eventGridScanIntervalMs(services.env),
        })
      : undefined;
  for (const entry of eventDriven) {
    eventSource?.subscribe({
      functionName: entry.fn.name,
      container: entry.account.container(entry.pattern.container),
      pattern: entry.pattern,
      accountName: entry.connection.accountName,
      connectionKey: entry.connection.key,
    });
  }
  if (eventSource) services.blobEvents.attach(eventSource);

  const execute = async (message: QueueMessageContext): Promise<boolean> => {
    // A message that cannot be read throws: the listener logs it, retries it, then poisons it with its body intact.
    const { functionId, message: body } = blobTriggerFunctionIdOf(message.text);
    const entry = byId.get(functionId);
    if (!entry) return true; // a function of another version of the app, or disabled here
    const parsed = runnableBlobTriggerMessage(functionId, body);
    const blob = entry.account.container(parsed.ContainerName).getBlobClient(parsed.BlobName);
    let properties: BlobTriggerProperties;
    try {
      // Past the blob front: a read raises no event. `blob` (the URL the app knows) goes into the trigger metadata.
      properties = await entry.account.internalBlobProperties(parsed.ContainerName, parsed.BlobName);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return true; // deleted blobs never trigger
      throw error;
    }
    // Overwritten since it was queued: the scan's new version has its own receipt, so make sure it is seen soon. An
    // Event Grid message runs on whatever version is current, as the extension's BlobQueueTriggerExecutor does.
    if (entry.source === 'LogsAndContainerScan' && properties.etag !== parsed.ETag) {
      scanner.wake();
      return true;
    }
    const etag = entry.source === 'EventGrid' ? (properties.etag ?? parsed.ETag) : parsed.ETag;
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
      etag,
      properties,
      download: (version) => entry.account.internalBlobContent(parsed.ContainerName, parsed.BlobName, version),
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
    queue: triggerQueue.queue,
    poisonQueue: hostAccount.hostQueue(BLOB_POISON_QUEUE),
    batchSize,
    newBatchThreshold: Math.max(0, blobs.maxDegreeOfParallelism - batchSize),
    maxPollingIntervalMs: queues.maxPollingIntervalMs,
    visibilityTimeoutMs: 0,
    maxDequeueCount: blobs.poisonBlobThreshold,
    messageEncoding: queues.messageEncoding,
    logger: services.logger.forCategory(HostCategory.trigger('Queue')),
    ...(visibility ? { receiveVisibilityMs: visibility } : {}),
    process: execute,
    onWake: (wake) => services.queueWrites.subscribe(queueKey, wake),
    onPoisoned: (poisonName) => services.queueWrites.notify(Notifier.key(services.hostConnection.key, poisonName)),
  });
  const unsubscribes: (() => void)[] = [];

  const listener: TriggerListener = {
    start: async () => {
      for (const entry of blobFunctions) {
        const wake = entry.source === 'EventGrid' ? () => eventSource?.wake() : () => scanner.wake();
        unsubscribes.push(
          services.blobWrites.subscribe(Notifier.key(entry.connection.key, entry.pattern.container), wake),
        );
      }
      blobLog.info(`registered http endpoint = ${services.webhooks.urlOf('blobs')}`);
      // Before "Host started": what exists now is history, what is written afterwards raises events.
      await eventSource?.start();
      if (polled.length > 0) scanner.start();
      queueListener.start();
    },
    stop: async () => {
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      await Promise.all([scanner.stop(), eventSource?.stop(), queueListener.stop()]);
    },
  };
  return [listener];
};
