import { randomUUID } from 'node:crypto';

import { type BindingServices } from '../bindings/bindingContext';
import type { BindingData } from '../bindings/expressions';
import { readInputBindings } from '../bindings/inputBindings';
import { writeOutputBindings } from '../bindings/outputBindings';
import { type HostLogger, redactSecrets, toError } from '../log';
import type { CoreApiState } from './coreApi';
import type { FunctionDefinition } from './functionDefinition';
import { createRetryDelays, type RetryPolicy } from './retryPolicy';
import type {
  CoreInvocationContext,
  InvocationModel,
  RpcHttpData,
  RpcInvocationRequest,
  RpcLogCategory,
  RpcLogLevel,
  RpcRetryContext,
  RpcTypedData,
} from './rpcTypes';

/** One delivery of a trigger to a function. */
export interface TriggerEvent {
  /** Logged as `Reason='…'`, e.g. "New queue message detected on 'orders'." */
  reason: string;
  /** The trigger's input, in the RPC shape the host sends. */
  triggerData: RpcTypedData;
  /** Binding data with the host's PascalCase keys; sent as trigger metadata and used for binding expressions. */
  triggerMetadata: BindingData;
  /** A `Trigger Details:` line, as the host logs for queue and blob triggers. */
  details?: string;
  /** Invocation id to use (HTTP streaming needs it before the call). */
  invocationId?: string;
}

export type InvocationOutcome =
  | {
      status: 'succeeded';
      invocationId: string;
      durationMs: number;
      returnValue: RpcTypedData | undefined;
      http: RpcHttpData | undefined;
    }
  | { status: 'failed'; invocationId: string; durationMs: number; error: Error };

export class FunctionTimeoutError extends Error {
  override readonly name = 'FunctionTimeoutError';
}

const TRACE_PARENT_VERSION = '00';

function toRpcValue(value: unknown): RpcTypedData {
  if (typeof value === 'string') return { string: value };
  if (Buffer.isBuffer(value)) return { bytes: value };
  if (value instanceof Date) return { json: JSON.stringify(value.toISOString()) };
  return { json: JSON.stringify(value) };
}

/**
 * The host's `ApplyBindingData`: a JSON-object trigger payload has its top-level non-array properties promoted into
 * the binding data (objects as objects, everything else as strings), overwriting built-ins of the same name.
 */
function promoteJsonProperties(triggerData: RpcTypedData, metadata: BindingData): BindingData {
  const text = triggerData.string;
  if (typeof text !== 'string') return metadata;
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return metadata;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return metadata;
  }
  if (typeof parsed !== 'object' || parsed === null) return metadata;
  const result: BindingData = { ...metadata };
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) continue;
    const existing = Object.keys(result).find((k) => k.toLowerCase() === key.toLowerCase());
    if (existing !== undefined) delete result[existing];
    result[key] = value !== null && typeof value === 'object' ? value : String(value);
  }
  return result;
}

/** The host's log category of a function's invocation lines; its user logs are `{this}.User`. */
function functionCategory(name: string): string {
  return `Function.${name}`;
}

function formatDuration(ms: number): string {
  const total = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export interface InvokerOptions {
  core: CoreApiState;
  logger: HostLogger;
  bindings: BindingServices;
  functionTimeoutMs: number | undefined;
  hostRetry: RetryPolicy | undefined;
  /** Aborted when the host stops: retry waits end early. */
  stopSignal: AbortSignal;
  appHookData: Record<string, unknown>;
}

/**
 * Runs functions through the library's own programming model, exactly as the Node worker does
 * (getInvocationModel → getArguments → preInvocation hooks → invokeFunction → postInvocation hooks → getResponse),
 * then carries out the output bindings. Logs in Core Tools' format.
 */
export class Invoker {
  #inFlight = 0;
  constructor(private readonly options: InvokerOptions) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Runs one trigger delivery, with the function's retry policy (attempts within the same delivery). */
  async invoke(fn: FunctionDefinition, event: TriggerEvent, policy?: RetryPolicy): Promise<InvocationOutcome> {
    let outcome = await this.#invokeOnce(fn, event, null);
    if (outcome.status === 'succeeded' || !policy) return outcome;
    const nextDelay = createRetryDelays(policy);
    for (let retry = 1; policy.maxRetryCount === -1 || retry <= policy.maxRetryCount; retry++) {
      if (this.options.stopSignal.aborted) break;
      const delayMs = nextDelay();
      this.options.logger.info(
        `Waiting for ${delayMs}ms before retrying 'Functions.${fn.name}' (retry ${retry} of ${policy.maxRetryCount}).`,
        functionCategory(fn.name),
      );
      await sleep(delayMs, this.options.stopSignal);
      if (this.options.stopSignal.aborted) break;
      const error: Error = outcome.error;
      const retryContext: RpcRetryContext = {
        retryCount: retry,
        maxRetryCount: policy.maxRetryCount,
        exception: { message: error.message, source: error.name, stackTrace: error.stack ?? '' },
      };
      outcome = await this.#invokeOnce(fn, { ...event, invocationId: undefined }, retryContext);
      if (outcome.status === 'succeeded') return outcome;
    }
    this.options.logger.warn(`All retries of 'Functions.${fn.name}' failed.`, functionCategory(fn.name));
    return outcome;
  }

  async #invokeOnce(
    fn: FunctionDefinition,
    event: TriggerEvent,
    retryContext: RpcRetryContext | null,
  ): Promise<InvocationOutcome> {
    const invocationId = event.invocationId ?? randomUUID();
    const started = performance.now();
    const { logger } = this.options;
    this.#inFlight++;
    const category = functionCategory(fn.name);
    logger.info(`Executing 'Functions.${fn.name}' (Reason='${event.reason}', Id=${invocationId})`, category);
    if (event.details) logger.info(`Trigger Details: ${event.details}`, category);
    try {
      const bindingData = promoteJsonProperties(event.triggerData, event.triggerMetadata);
      const { returnValue, http } = await this.#run(fn, event, bindingData, invocationId, retryContext);
      const durationMs = Math.round(performance.now() - started);
      logger.info(
        `Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${durationMs}ms)`,
        category,
      );
      return { status: 'succeeded', invocationId, durationMs, returnValue, http };
    } catch (thrown) {
      const error = toError(thrown);
      const durationMs = Math.round(performance.now() - started);
      logger.error(`Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${durationMs}ms)`, category);
      logger.error(`System.Exception: Result: Failure\nException: ${redactSecrets(error.message)}`, category);
      return { status: 'failed', invocationId, durationMs, error };
    } finally {
      this.#inFlight--;
    }
  }

  async #run(
    fn: FunctionDefinition,
    event: TriggerEvent,
    bindingData: BindingData,
    invocationId: string,
    retryContext: RpcRetryContext | null,
  ): Promise<{ returnValue: RpcTypedData | undefined; http: RpcHttpData | undefined }> {
    const { core, bindings, logger } = this.options;
    const model = core.programmingModel;
    if (!model) throw new Error('The app registered no programming model');

    const triggerMetadata: Record<string, RpcTypedData> = {};
    for (const [key, value] of Object.entries(bindingData)) {
      if (value !== undefined && value !== null) triggerMetadata[key] = toRpcValue(value);
    }
    const extraInputs = await readInputBindings(fn.inputs, bindingData, bindings, fn.name);
    const request: RpcInvocationRequest = {
      invocationId,
      functionId: fn.id,
      inputData: [{ name: fn.trigger.key, data: event.triggerData }, ...extraInputs],
      triggerMetadata,
      traceContext: {
        traceParent: `${TRACE_PARENT_VERSION}-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
        traceState: '',
        attributes: {},
      },
      retryContext,
    };
    const coreCtx: CoreInvocationContext = {
      invocationId,
      request,
      metadata: fn.metadata,
      state: undefined,
      log: (level: RpcLogLevel, category: RpcLogCategory, message: string) => {
        if (category === 'user') logger.log(level, message, `${functionCategory(fn.name)}.User`);
        else logger.log(level === 'information' ? 'debug' : level, message, functionCategory(fn.name));
      },
    };

    const invocationModel: InvocationModel = await model.getInvocationModel(coreCtx);
    // The host's lines about this invocation go out before anything the app prints itself.
    logger.flush();
    const { context, inputs } = await invocationModel.getArguments();
    const hookData: Record<string, unknown> = {};
    const appHookData = this.options.appHookData;
    const preContext: Record<string, unknown> = {
      hookData,
      appHookData,
      invocationContext: context,
      functionCallback: fn.callback,
      inputs,
    };
    coreCtx.state = 'preInvocationHooks';
    for (const hook of core.hooksFor('preInvocation')) await hook(preContext);
    coreCtx.state = undefined;
    const finalInputs = preContext['inputs'] as unknown[];
    const callback = preContext['functionCallback'] as FunctionDefinition['callback'];

    const postContext: Record<string, unknown> = {
      hookData,
      appHookData,
      invocationContext: context,
      inputs: finalInputs,
      result: null,
      error: null,
    };
    coreCtx.state = 'invocation';
    try {
      postContext['result'] = await this.#withTimeout(
        fn,
        invocationModel.invokeFunction(context, finalInputs, callback),
      );
    } catch (error) {
      postContext['error'] = error;
    }
    coreCtx.state = 'postInvocationHooks';
    for (const hook of core.hooksFor('postInvocation')) await hook(postContext);
    coreCtx.state = undefined;
    if (postContext['error'] !== null && postContext['error'] !== undefined) throw toError(postContext['error']);

    const response = await invocationModel.getResponse(context, postContext['result']);
    const outputs = new Map<string, RpcTypedData>();
    for (const entry of response.outputData ?? []) {
      if (entry.name && entry.data) outputs.set(entry.name, entry.data);
    }
    const returnBinding = fn.outputs.find((b) => b.key === '$return');
    if (returnBinding && response.returnValue) outputs.set('$return', response.returnValue);
    await writeOutputBindings(fn.outputs, outputs, bindingData, bindings, fn.name);
    const httpBinding = fn.outputs.find((b) => b.type === 'http');
    const http = httpBinding ? (outputs.get(httpBinding.key)?.http ?? undefined) : undefined;
    return { returnValue: response.returnValue ?? undefined, http };
  }

  async #withTimeout<T>(fn: FunctionDefinition, work: Promise<T>): Promise<T> {
    const timeoutMs = this.options.functionTimeoutMs;
    if (timeoutMs === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new FunctionTimeoutError(
            `Timeout value of ${formatDuration(timeoutMs)} was exceeded by function: Functions.${fn.name}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
