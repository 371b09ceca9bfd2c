import { resolveAppSettings } from '../bindings/expressions';
import { HOSTS_CONTAINER } from '../blob/blobReceipts';
import { StartupError } from '../config/errors';
import type { FunctionDefinition } from '../core/functionDefinition';
import type { TriggerEvent } from '../core/invoker';
import { HostCategory, type HostLogger } from '../log';
import { BlobLeaseLock } from '../storage/blobLeaseLock';
import { parseSchedule, type Schedule, ScheduleError, shouldDisableScheduleMonitor } from '../timer/schedule';
import { ScheduleMonitor, type ScheduleStatus, statusPayload } from '../timer/scheduleMonitor';
import type { ListenerFactory, ListenerServices, TriggerListener } from './listener';

/** setTimeout takes at most 2^31-1 ms (about 24.8 days); longer waits are chained. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function booleanConfig(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.toLowerCase() === 'true';
  return undefined;
}

function parseFunctionSchedule(fn: FunctionDefinition, env: NodeJS.ProcessEnv): Schedule {
  const configured = fn.trigger.config['schedule'];
  if (typeof configured !== 'string' || configured.trim() === '') {
    throw new StartupError(`Function "${fn.name}": timerTrigger needs a schedule`);
  }
  try {
    return parseSchedule(resolveAppSettings(configured, env));
  } catch (error) {
    if (error instanceof ScheduleError) {
      throw new StartupError(
        `Function "${fn.name}": the schedule '${error.expression}' was not recognized as a valid cron expression or timespan string: ${error.message}`,
      );
    }
    throw new StartupError(`Function "${fn.name}": ${(error as Error).message}`);
  }
}

type FireKind = 'scheduled' | 'pastDue' | 'runOnStartup';

/**
 * One timer-triggered function (`TimerListener` behind a `SingletonListener`): only the instance holding the
 * listener lock runs the schedule; invocations never overlap; the schedule monitor catches up a missed occurrence
 * once, with `isPastDue`.
 */
class TimerListener implements TriggerListener {
  readonly #fn: FunctionDefinition;
  readonly #services: ListenerServices;
  readonly #schedule: Schedule;
  readonly #monitor: ScheduleMonitor | undefined;
  readonly #runOnStartup: boolean;
  readonly #lock: BlobLeaseLock;
  /** The timer extension's lines (`Host.Triggers.Timer`). */
  readonly #log: HostLogger;
  /** The listener lock's lines, as the host's `SingletonListener` writes them (`Host.Singleton`). */
  readonly #singletonLog: HostLogger;
  #running = false;
  #scheduleLoop: Promise<void> | undefined;
  #acquireTimer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #generation = 0;

  constructor(fn: FunctionDefinition, services: ListenerServices) {
    this.#fn = fn;
    this.#services = services;
    this.#log = services.logger.forCategory(HostCategory.trigger('Timer'));
    this.#singletonLog = services.logger.forCategory(HostCategory.singleton);
    this.#schedule = parseFunctionSchedule(fn, services.env);
    const hostContainer = services.accounts.get(services.hostConnection).internalContainer(HOSTS_CONTAINER);
    const useMonitor =
      booleanConfig(fn.trigger.config['useMonitor']) ?? !shouldDisableScheduleMonitor(this.#schedule, new Date());
    this.#monitor = useMonitor ? new ScheduleMonitor(hostContainer, services.hostId, this.#log) : undefined;
    this.#runOnStartup = booleanConfig(fn.trigger.config['runOnStartup']) ?? false;
    this.#lock = new BlobLeaseLock(
      hostContainer,
      `locks/${services.hostId}/Host.Functions.${fn.name}.Listener`,
      services.options.singleton.listenerLockPeriodMs,
      `${services.hostId}/${process.pid}`,
      this.#singletonLog,
    );
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.#tryAcquire();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#acquireTimer) clearTimeout(this.#acquireTimer);
    this.#wake?.();
    await this.#scheduleLoop;
    await this.#lock.release();
  }

  async #tryAcquire(): Promise<void> {
    if (!this.#running) return;
    let acquired = false;
    try {
      acquired = await this.#lock.tryAcquire(() => this.#lockLost());
    } catch (error) {
      this.#singletonLog.warn(
        `Timer '${this.#fn.name}': the listener lock could not be checked (${(error as Error).message.split('\n')[0] ?? ''}); retrying.`,
      );
    }
    if (acquired) {
      this.#singletonLog.debug(`Timer '${this.#fn.name}' holds the singleton lock '${this.#lock.name}'.`);
      const generation = ++this.#generation;
      this.#scheduleLoop = this.#runSchedule(generation);
      return;
    }
    this.#singletonLog.debug(
      `Unable to acquire Singleton lock (${this.#lock.name}): another instance runs timer '${this.#fn.name}'.`,
    );
    this.#acquireTimer = setTimeout(
      () => void this.#tryAcquire(),
      this.#services.options.singleton.listenerLockRecoveryPollingIntervalMs,
    );
  }

  #lockLost(): void {
    // Another instance may run the schedule now: stop ours after any invocation in progress, then compete again.
    this.#generation++;
    this.#wake?.();
    void (this.#scheduleLoop ?? Promise.resolve()).then(() => {
      if (this.#running) void this.#tryAcquire();
    });
  }

  #active(generation: number): boolean {
    return this.#running && generation === this.#generation;
  }

  async #runSchedule(generation: number): Promise<void> {
    const now = new Date();
    let status: ScheduleStatus = { last: undefined, next: this.#schedule.nextAfter(now), lastUpdated: undefined };
    let first: FireKind | undefined;
    if (this.#monitor) {
      try {
        const checked = await this.#monitor.checkPastDue(this.#fn.name, now, this.#schedule);
        status = checked.status;
        if (checked.pastDue) first = 'pastDue';
      } catch (error) {
        this.#log.warn(
          `Timer '${this.#fn.name}': the schedule status could not be read (${(error as Error).message.split('\n')[0] ?? ''}); past-due detection skipped.`,
        );
      }
    }
    if (!first && this.#runOnStartup) first = 'runOnStartup';
    this.#log.info(
      `The next 5 occurrences of the '${this.#fn.name}' schedule (${this.#schedule.toString()}) will be: ${this.#nextFive(now)}`,
    );

    while (this.#active(generation)) {
      let kind: FireKind = 'scheduled';
      if (first) {
        kind = first;
        first = undefined;
      } else {
        await this.#sleepUntil(status.next);
        if (!this.#active(generation)) return;
      }
      const firedAt = new Date();
      await this.#invoke(kind, status);
      // A timer that fired a little early counts as the occurrence it was set for.
      const adjusted = kind === 'scheduled' && firedAt < status.next ? status.next : firedAt;
      status = { last: adjusted, next: this.#schedule.nextAfter(adjusted), lastUpdated: adjusted };
      if (this.#monitor) await this.#monitor.write(this.#fn.name, status);
      // The next occurrence is computed from when this one started: a run longer than the period is followed at
      // once by one more run, never by one per missed occurrence, and never overlaps itself.
    }
  }

  async #invoke(kind: FireKind, status: ScheduleStatus): Promise<void> {
    const payload = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: this.#monitor ? statusPayload(status) : null,
      IsPastDue: kind === 'pastDue',
    };
    const firedAt = new Date().toISOString();
    const details =
      kind === 'pastDue'
        ? `UnscheduledInvocationReason: IsPastDue, OriginalSchedule: ${status.next.toISOString()}`
        : kind === 'runOnStartup'
          ? 'UnscheduledInvocationReason: RunOnStartup'
          : undefined;
    const event: TriggerEvent = {
      reason: `Timer fired at ${firedAt}`,
      triggerData: { json: JSON.stringify(payload) },
      triggerMetadata: {},
      ...(details ? { details } : {}),
    };
    // Failures are logged by the invoker; the schedule goes on.
    await this.#services.invoker.invoke(this.#fn, event, this.#services.retryPolicy(this.#fn));
  }

  #sleepUntil(time: Date): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const arm = () => {
        const remaining = time.getTime() - Date.now();
        if (remaining <= 0) return done();
        timer = setTimeout(arm, Math.min(remaining, MAX_TIMEOUT_MS));
      };
      this.#wake = done;
      arm();
    });
  }

  #nextFive(from: Date): string {
    const occurrences: string[] = [];
    let time = from;
    for (let i = 0; i < 5; i++) {
      time = this.#schedule.nextAfter(time);
      occurrences.push(time.toISOString());
    }
    return occurrences.join(', ');
  }
}

/** One singleton listener per timer-triggered function. */
export const createTimerListeners: ListenerFactory = (functions, services) =>
  functions.map((fn) => new TimerListener(fn, services));
