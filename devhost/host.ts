import { randomUUID } from 'node:crypto';
import path from 'node:path';

import type { BindingServices } from './bindings/bindingContext';
import { HOSTS_CONTAINER } from './blob/blobReceipts';
import { resolveConnection, type StorageConnection } from './config/connections';
import { StartupError } from './config/errors';
import { type HostOptions, loadHostOptions } from './config/hostOptions';
import { applySettings, loadLocalSettings } from './config/localSettings';
import { loadEntryPoint, resolveEntryPoints } from './core/appLoader';
import { CoreApiState, installCoreModule } from './core/coreApi';
import { defineFunction, type FunctionDefinition, type TriggerType } from './core/functionDefinition';
import { computeHostId, computeInstanceId } from './core/hostId';
import { Invoker } from './core/invoker';
import { manualTriggerEvent } from './core/manualTrigger';
import { retryPolicyFrom } from './core/retryPolicy';
import { handleBlobEventAdmin } from './eventgrid/blobEventAdmin';
import { behindFront, type BlobFront, startBlobFrontFromSettings } from './eventgrid/blobFront';
import { LocalEventGrid } from './eventgrid/localEventGrid';
import { RuntimeWebhooks } from './eventgrid/runtimeWebhooks';
import { FrontDoor, hostReadyTimeoutMs } from './http/frontDoor';
import { HttpServer, maxRequestBodyBytes } from './http/httpServer';
import { type HostKeys, loadHostKeys } from './http/keys';
import { MANAGED_IDENTITY_SETTING, startManagedIdentityEndpoint } from './identity/managedIdentityEndpoint';
import { HostCategory, HostLogger, LogLevelRules } from './log';
import { StorageAccounts } from './storage/account';
import { PrimaryHostLock } from './storage/primaryHostLock';
import { checkStorageReachable } from './storage/probe';
import { createBlobListeners } from './triggers/blobTrigger';
import type { ListenerFactory, ListenerServices, TriggerListener } from './triggers/listener';
import { Notifier } from './triggers/notifier';
import { createQueueListeners } from './triggers/queueTrigger';
import { createTimerListeners } from './triggers/timerTrigger';

export interface DevhostStartOptions {
  appDir: string;
  /** HTTP port; 0 picks a free one. Default: local.settings.json Host.LocalHttpPort, else 7071. */
  port?: number | undefined;
  /** Address to listen on (`--host`); default `127.0.0.1`, so nothing outside this machine can call in. */
  host?: string | undefined;
  /** Only these functions (`--functions a,b`). */
  functions?: string[] | undefined;
  /** Check function keys (`--enforce-keys`, or Core Tools' `--enableAuth`). */
  enforceKeys?: boolean | undefined;
  logger?: HostLogger | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

const DEFAULT_PORT = 7071;
const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';

const LISTENER_FACTORIES: Record<Exclude<TriggerType, 'httpTrigger'>, ListenerFactory> = {
  queueTrigger: createQueueListeners,
  blobTrigger: createBlobListeners,
  timerTrigger: createTimerListeners,
};

function isDisabled(fn: FunctionDefinition, env: NodeJS.ProcessEnv): boolean {
  const value = env[`AzureWebJobs.${fn.name}.Disabled`] ?? env[`AzureWebJobs_${fn.name}_Disabled`];
  return value !== undefined && /^(true|1)$/i.test(value.trim());
}

/**
 * A local Azure Functions host for Node v4 apps: loads the unmodified app through `@azure/functions-core`, then runs
 * its HTTP, queue, blob and timer triggers against Azure Storage (Azurite locally) with the real host's semantics.
 */
export class Devhost {
  readonly #listeners: TriggerListener[];
  #primaryHostLock: PrimaryHostLock | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(
    readonly functions: FunctionDefinition[],
    readonly httpServer: HttpServer,
    readonly hostId: string,
    readonly keys: HostKeys | undefined,
    listeners: TriggerListener[],
    private readonly core: CoreApiState,
    private readonly logger: HostLogger,
    private readonly stopController: AbortController,
    private readonly appHookData: Record<string, unknown>,
    private readonly restoreRequire: () => void,
  ) {
    this.#listeners = listeners;
  }

  get port(): number {
    return this.httpServer.port;
  }

  static async start(options: DevhostStartOptions): Promise<Devhost> {
    const env = options.env ?? process.env;
    const logger = options.logger ?? new HostLogger();
    const appDir = path.resolve(options.appDir);
    const settings = await loadLocalSettings(appDir);
    applySettings(settings.values, env);
    const hostOptions = await loadHostOptions(appDir, env);
    logger.useLevels(new LogLevelRules(hostOptions.logLevels));
    const door = await Devhost.#openFrontDoor(options, settings.localHttpPort, env);

    // The host writes its worker channel's lines, and the worker's own system lines, under the channel's category.
    const workerLog = logger.forCategory(HostCategory.worker(randomUUID()));
    const core = new CoreApiState((level, _category, message) =>
      workerLog.log(level === 'information' ? 'debug' : level, message),
    );
    // Before the app loads: its credentials read IDENTITY_ENDPOINT/IDENTITY_HEADER as on Azure.
    const identityEndpoint = /^(true|1)$/i.test(env[MANAGED_IDENTITY_SETTING]?.trim() ?? '')
      ? await startManagedIdentityEndpoint(env, logger)
      : undefined;
    if (identityEndpoint) {
      env['IDENTITY_ENDPOINT'] = identityEndpoint.endpoint;
      env['IDENTITY_HEADER'] = identityEndpoint.header;
    }
    // Before the app loads too: the app's blob endpoint may be the front.
    const blobFront = await startBlobFrontFromSettings(env, logger);
    const restoreModule = installCoreModule(core.createCoreApi());
    const restoreRequire = () => {
      restoreModule();
      void identityEndpoint?.close();
      void blobFront?.close();
    };
    const appHookData: Record<string, unknown> = {};
    try {
      const entryPoints = await resolveEntryPoints(appDir);
      if (entryPoints.warning) workerLog.warn(entryPoints.warning);
      for (const file of entryPoints.files) await loadEntryPoint(file, appDir);
      for (const hook of core.hooksFor('appStart')) {
        await hook({ hookData: core.appLevelOnlyHookData, appHookData, functionAppDirectory: appDir });
      }
      const capabilities = (await core.programmingModel?.getCapabilities?.({})) ?? {};
      core.lockRegistration();
      // Core Tools' line once the worker has loaded the app (scripts wait for it, like for the host lock line).
      workerLog.info('Worker process started and initialized.');
      return await Devhost.#startFunctions(
        options,
        env,
        logger,
        appDir,
        hostOptions,
        core,
        appHookData,
        capabilities['HttpUri'],
        door,
        restoreRequire,
        blobFront,
      );
    } catch (error) {
      restoreRequire();
      await door.close();
      throw error;
    }
  }

  /**
   * Listens before the app loads, as Core Tools starts Kestrel before the script host: a port in use stops the start
   * at once, and requests during start-up wait for the host.
   */
  static async #openFrontDoor(
    options: DevhostStartOptions,
    settingsPort: number | undefined,
    env: NodeJS.ProcessEnv,
  ): Promise<FrontDoor> {
    const port = options.port ?? settingsPort ?? DEFAULT_PORT;
    const address = options.host ?? DEFAULT_LISTEN_ADDRESS;
    try {
      return await FrontDoor.open(port, address, hostReadyTimeoutMs(env));
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'is in use' : 'is unavailable';
      throw new StartupError(
        `HTTP port ${port} on ${address} ${reason} (${(error as Error).message}): choose another with --port N (or Host.LocalHttpPort in local.settings.json)`,
        { cause: error },
      );
    }
  }

  static async #startFunctions(
    options: DevhostStartOptions,
    env: NodeJS.ProcessEnv,
    logger: HostLogger,
    appDir: string,
    hostOptions: HostOptions,
    core: CoreApiState,
    appHookData: Record<string, unknown>,
    streamingUri: string | undefined,
    door: FrontDoor,
    restoreRequire: () => void,
    blobFront: BlobFront | undefined,
  ): Promise<Devhost> {
    let functions = [...core.functions.values()].map(defineFunction);
    const only = options.functions ?? hostOptions.functions;
    if (only && only.length > 0) {
      const wanted = new Set(only.map((n) => n.toLowerCase()));
      const unknown = only.filter((n) => !functions.some((f) => f.name.toLowerCase() === n.toLowerCase()));
      if (unknown.length > 0) throw new StartupError(`--functions names unknown function(s): ${unknown.join(', ')}`);
      functions = functions.filter((f) => wanted.has(f.name.toLowerCase()));
    }
    const startupLog = logger.forCategory(HostCategory.startup);
    if (functions.length === 0) startupLog.warn('No job functions found.');

    const needsStorage = functions.some((f) => f.trigger.type !== 'httpTrigger') || Boolean(env['AzureWebJobsStorage']);
    let hostConnection: StorageConnection | undefined;
    const accounts = new StorageAccounts(blobFront ? (endpoint) => behindFront(endpoint, blobFront) : undefined);
    if (needsStorage) {
      hostConnection = resolveConnection('Storage', env, 'The host');
      // Every connection the functions use must answer now, not at the first message.
      const connections = new Map([[hostConnection.key, hostConnection]]);
      for (const fn of functions) {
        for (const binding of [fn.trigger, ...fn.inputs, ...fn.outputs]) {
          if (binding.type === 'httpTrigger' || binding.type === 'http') continue;
          const connection = resolveConnection(
            binding.config['connection'],
            env,
            `Function "${fn.name}" binding "${binding.key}"`,
          );
          connections.set(connection.key, connection);
        }
      }
      for (const connection of connections.values()) {
        await checkStorageReachable(accounts.get(connection), connection.accountName);
      }
    }

    const stopController = new AbortController();
    const queueWrites = new Notifier();
    const blobWrites = new Notifier();
    const bindings: BindingServices = {
      accounts,
      env,
      queues: hostOptions.queues,
      notifyQueueWritten: (cs, queue) => queueWrites.notify(Notifier.key(cs, queue)),
      notifyBlobWritten: (cs, container) => blobWrites.notify(Notifier.key(cs, container)),
    };
    const invoker = new Invoker({
      core,
      logger,
      bindings,
      functionTimeoutMs: hostOptions.functionTimeoutMs,
      hostRetry: hostOptions.retry,
      stopSignal: stopController.signal,
      appHookData,
    });
    const enabled = functions.filter((fn) => !isDisabled(fn, env));
    const hostId = computeHostId(appDir, env);
    const keys = options.enforceKeys ? loadHostKeys(env) : undefined;
    const webhooks = new RuntimeWebhooks(keys, env);
    const blobEvents = new LocalEventGrid();
    blobFront?.onCommit((commit) => {
      if (!blobEvents.watches(commit.accountName, commit.container)) return;
      blobEvents.blobCreated(commit).catch((error: unknown) => {
        logger.warn(
          `BlobCreated for '${commit.container}/${commit.blobName}' failed: ${(error as Error).message}`,
          HostCategory.trigger('Blob'),
        );
      });
    });
    const services: ListenerServices = {
      options: hostOptions,
      invoker,
      accounts,
      env,
      logger,
      hostId,
      get hostConnection(): StorageConnection {
        // Only listeners read it, and any listener makes needsStorage true.
        return hostConnection ?? resolveConnection('Storage', env, 'The host');
      },
      retryPolicy: (fn) => retryPolicyFrom(fn.metadata.retryOptions, hostOptions.retry),
      queueWrites,
      blobWrites,
      webhooks,
      blobEvents,
    };
    const listeners: TriggerListener[] = [];
    for (const [type, factory] of Object.entries(LISTENER_FACTORIES)) {
      listeners.push(
        ...factory(
          enabled.filter((fn) => fn.trigger.type === type),
          services,
        ),
      );
    }

    const byName = new Map(functions.map((fn) => [fn.name.toLowerCase(), fn]));
    const instanceId = computeInstanceId(env);
    const httpServer = new HttpServer({
      door,
      hostname: options.host ?? DEFAULT_LISTEN_ADDRESS,
      maxBodyBytes: maxRequestBodyBytes(env),
      hostId,
      instanceId,
      routePrefix: hostOptions.routePrefix,
      functions: functions.filter((fn) => fn.trigger.type === 'httpTrigger'),
      allFunctions: byName,
      invoker,
      logger,
      keys,
      streamingUri,
      isDisabled: (fn) => isDisabled(fn, env),
      runtimeWebhooks: (req, res, url, path) => webhooks.handle(req, res, url, path),
      eventGridAdmin: (req, res, path) => handleBlobEventAdmin(req, res, path, blobEvents),
      manualTrigger: async (fn, input) => {
        const event = await manualTriggerEvent(fn, input, accounts, env);
        await invoker.invoke(fn, event, services.retryPolicy(fn));
      },
    });
    webhooks.listeningOn(httpServer.baseUrl);
    const host = new Devhost(
      functions,
      httpServer,
      hostId,
      keys,
      listeners,
      core,
      logger,
      stopController,
      appHookData,
      restoreRequire,
    );
    host.#printListing(functions, env, webhooks);
    for (const listener of listeners) await listener.start();
    httpServer.open();
    startupLog.info(`Host started (host id ${hostId}, ${hostConnection?.accountName ?? 'no'} storage).`);
    if (hostConnection) {
      // Like the host's PrimaryHostCoordinator, only where the host has a storage account to keep the lease in.
      host.#primaryHostLock = new PrimaryHostLock(
        accounts.get(hostConnection).internalContainer(HOSTS_CONTAINER),
        hostId,
        instanceId,
        logger,
      );
      host.#primaryHostLock.start();
    }
    return host;
  }

  #printListing(functions: FunctionDefinition[], env: NodeJS.ProcessEnv, webhooks: RuntimeWebhooks): void {
    const { logger } = this;
    logger.plain('');
    logger.plain('Functions:');
    logger.plain('');
    for (const fn of functions) {
      const disabled = isDisabled(fn, env) ? ' (disabled)' : '';
      if (fn.trigger.type === 'httpTrigger') {
        logger.plain(
          `\t${fn.name}: [${this.httpServer.methodsOf(fn).join(',')}] ${this.httpServer.urlOf(fn)}${disabled}`,
        );
      } else {
        logger.plain(`\t${fn.name}: ${fn.trigger.type}${disabled}`);
      }
      logger.plain('');
    }
    if (this.keys) {
      logger.plain(
        this.keys.fromSettings
          ? 'Function keys: from DEVHOST_MASTER_KEY / DEVHOST_FUNCTION_KEY settings.'
          : `Master key (generated for this run): ${this.keys.master}\nFunction key (generated for this run): ${this.keys.function['default'] ?? ''}`,
      );
      for (const extension of webhooks.extensions) {
        const systemKey = webhooks.systemKey(extension);
        if (systemKey && !systemKey.fromSettings) {
          logger.plain(`System key ${extension}_extension (generated for this run): ${systemKey.value}`);
        }
      }
      logger.plain('');
    }
  }

  /**
   * Graceful stop: stop fetching, let running invocations finish (listeners wait for them), close HTTP, then run
   * appTerminate hooks. Work not started stays in storage and becomes visible to other instances.
   * @param graceMs after this long the stop resolves even if invocations are still running
   */
  stop(graceMs = 30_000): Promise<void> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    this.logger.info('Stopping host...');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const drained = Promise.all([...this.#listeners.map((l) => l.stop()), this.httpServer.close()]).then(
      () => 'drained' as const,
    );
    const result = await Promise.race([drained, grace]);
    clearTimeout(timer);
    this.stopController.abort();
    await this.#primaryHostLock?.stop();
    if (result === 'timeout') this.logger.warn(`Grace period of ${graceMs}ms ended with invocations still running.`);
    for (const hook of this.core.hooksFor('appTerminate')) {
      try {
        await hook({ hookData: this.core.appLevelOnlyHookData, appHookData: this.appHookData });
      } catch (error) {
        this.logger.error(`appTerminate hook failed: ${(error as Error).message}`);
      }
    }
    this.restoreRequire();
    this.logger.info('Host stopped.');
  }
}
