import Module from 'node:module';

import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookName,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './rpcTypes';

/** The worker version devhost reports; the library does not check it, third-party hooks may read it. */
export const WORKER_VERSION = '3.12.0';
/** The Functions host version devhost stands in for (HTTP streaming needs >= 4.28, log hooks >= 4.34). */
export const HOST_VERSION = '4.1037.0';

const HOOK_NAMES: readonly HookName[] = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'];

/** A function as registered by the app, before devhost validates its bindings. */
export interface RegisteredFunction {
  id: string;
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

/** VS Code style disposable, as the worker exposes it on the core API. */
export class Disposable {
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  #callOnDispose: (() => unknown) | undefined;
  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }
  dispose(): void {
    this.#callOnDispose?.();
    this.#callOnDispose = undefined;
  }
}

/** The worker's `AzFuncRangeError`: the library recognises it by `name` and `isAzureFunctionsSystemError`. */
class SystemRangeError extends RangeError {
  readonly isAzureFunctionsSystemError = true;
}

class SystemError extends Error {
  readonly isAzureFunctionsSystemError = true;
}

/**
 * Everything the app hands to the host through `@azure/functions-core`: function registrations, hooks and the
 * programming model. One per loaded app.
 */
export class CoreApiState {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<HookName, HookCallback[]>(HOOK_NAMES.map((name) => [name, []]));
  programmingModel: ProgrammingModel | undefined;
  /**
   * The worker's app-level-only hook data (`worker.app.appLevelOnlyHookData`): one object for the app's life, handed
   * to appStart hooks and again to appTerminate hooks, so what start-up wrote is there at the end.
   */
  readonly appLevelOnlyHookData: Record<string, unknown> = {};
  #locked = false;

  constructor(readonly systemLog: (level: RpcLogLevel, category: RpcLogCategory, message: string) => void) {}

  /** After start-up registration is closed, as the worker closes it after indexing. */
  lockRegistration(): void {
    this.#locked = true;
  }

  hooksFor(name: HookName): readonly HookCallback[] {
    return this.hooks.get(name) ?? [];
  }

  /** The object `require('@azure/functions-core')` returns, shaped like the worker's (`setupCoreModule.ts`). */
  createCoreApi(): Record<string, unknown> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const state = this;
    return {
      version: WORKER_VERSION,
      get hostVersion(): string {
        return HOST_VERSION;
      },
      registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
        if (state.#locked) {
          throw new SystemError('A function can only be registered during app startup.');
        }
        const id = metadata.functionId ?? metadata.name;
        if (state.functions.has(id)) {
          throw new SystemError(`A function with id "${id}" has already been registered.`);
        }
        state.functions.set(id, { id, metadata, callback });
        return new Disposable(() => {
          if (state.#locked) {
            throw new SystemError('A function can only be disposed during app startup.');
          }
          state.functions.delete(id);
        });
      },
      registerHook(hookName: string, callback: HookCallback): Disposable {
        const list = state.hooks.get(hookName as HookName);
        if (!list) {
          throw new SystemRangeError(`Unrecognized hook "${hookName}"`);
        }
        list.push(callback);
        return new Disposable(() => {
          const index = list.indexOf(callback);
          if (index >= 0) list.splice(index, 1);
        });
      },
      setProgrammingModel(model: ProgrammingModel): void {
        if (state.programmingModel) {
          state.systemLog(
            'information',
            'system',
            `Setting Node.js programming model to "${model.name}" version "${model.version}"`,
          );
        }
        state.programmingModel = model;
      },
      getProgrammingModel(): ProgrammingModel | undefined {
        return state.programmingModel;
      },
      log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
        state.systemLog(level, category, message);
      },
      Disposable,
    };
  }
}

const CORE_MODULE_ID = '@azure/functions-core';

/**
 * Makes `require('@azure/functions-core')` return `coreApi`, the way the Node worker does it: a Proxy on
 * `Module.prototype.require` (not a resolver hook), installed before any app code loads. The library looks the module
 * up lazily and caches the answer forever, so this must run before the app's first `app.*` call.
 * Returns a function that restores the previous `require`.
 */
export function installCoreModule(coreApi: Record<string, unknown>): () => void {
  const moduleProto = Module.prototype as unknown as { require: (id: string) => unknown };
  const original = moduleProto.require;
  moduleProto.require = new Proxy(original, {
    apply(target, thisArg: unknown, args: unknown[]): unknown {
      if (args[0] === CORE_MODULE_ID) return coreApi;
      return Reflect.apply(target, thisArg, args);
    },
  });
  return () => {
    moduleProto.require = original;
  };
}
