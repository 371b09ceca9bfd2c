import type { StorageConnection } from '../config/connections';
import type { HostOptions } from '../config/hostOptions';
import type { FunctionDefinition } from '../core/functionDefinition';
import type { Invoker } from '../core/invoker';
import type { RetryPolicy } from '../core/retryPolicy';
import type { LocalEventGrid } from '../eventgrid/localEventGrid';
import type { RuntimeWebhooks } from '../eventgrid/runtimeWebhooks';
import type { HostLogger } from '../log';
import type { StorageAccounts } from '../storage/account';
import type { Notifier } from './notifier';

/** A running trigger: polls or waits for its events and hands each to the invoker. */
export interface TriggerListener {
  start(): Promise<void>;
  /**
   * Stops fetching new work and waits for invocations in progress (graceful stop); work not started stays in
   * storage, visible again to other instances.
   */
  stop(): Promise<void>;
  /** Runs the function once by hand (`POST /admin/functions/{name}`) with the given input. */
  runManually?(fn: FunctionDefinition, input: string): Promise<void>;
}

/** What every trigger listener gets from the host. */
export interface ListenerServices {
  options: HostOptions;
  invoker: Invoker;
  accounts: StorageAccounts;
  env: NodeJS.ProcessEnv;
  logger: HostLogger;
  /** The host id used in storage paths (locks, receipts, timer status), as the real host derives it. */
  hostId: string;
  /** The `AzureWebJobsStorage` connection, where the host keeps its own state. */
  hostConnection: StorageConnection;
  retryPolicy(fn: FunctionDefinition): RetryPolicy | undefined;
  /** Fast path: a queue written by this host (key `connection key|queueName`). */
  queueWrites: Notifier;
  /** Fast path: a blob container written by this host (key `connection key|container`). */
  blobWrites: Notifier;
  /** Extension webhooks (`/runtime/webhooks/{name}`), where the blobs extension registers its Event Grid endpoint. */
  webhooks: RuntimeWebhooks;
  /** Devhost's local Event Grid, which Event Grid–source blob listeners attach to. */
  blobEvents: LocalEventGrid;
}

/** Creates the listeners for every function of one trigger type. */
export type ListenerFactory = (functions: FunctionDefinition[], services: ListenerServices) => TriggerListener[];
