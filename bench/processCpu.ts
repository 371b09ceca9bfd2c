import { readFileSync } from 'node:fs';

/** Linux's clock tick (`getconf CLK_TCK`): 100 on every architecture Node runs on there. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, ms) a process has used so far, from /proc; undefined where there is no /proc or the
 * process is gone. CPU time, unlike wall time, is barely moved by other tenants of a shared machine, and split by
 * process it shows where the work went.
 */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name (which may hold spaces and parentheses: the last ")" ends it), from the 3rd:
    // utime is the 14th field, stime the 15th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** This process's CPU time so far (ms). */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** CPU ms per unit of work, by process. */
export interface CpuShare {
  azurite: number;
  host: number;
  bench: number;
}

/** Samples the CPU time of Azurite, the host (if any) and this process at two moments. */
export class CpuWindow {
  #start: CpuShare | undefined;
  #end: CpuShare | undefined;

  constructor(
    private readonly azuritePid: number | undefined,
    private readonly hostPid: () => number | undefined = () => undefined,
  ) {}

  #sample(): CpuShare | undefined {
    const azurite = cpuMsOf(this.azuritePid);
    if (azurite === undefined) return undefined;
    const hostPid = this.hostPid();
    const host = hostPid === undefined ? 0 : cpuMsOf(hostPid);
    if (host === undefined) return undefined;
    return { azurite, host, bench: ownCpuMs() };
  }

  start(): void {
    this.#start = this.#sample();
  }

  end(): void {
    this.#end = this.#sample();
  }

  /** CPU ms per unit between `start` and `end`, or undefined when it could not be read. */
  per(units: number): CpuShare | undefined {
    const start = this.#start;
    const end = this.#end;
    if (!start || !end) return undefined;
    return {
      azurite: (end.azurite - start.azurite) / units,
      host: (end.host - start.host) / units,
      bench: (end.bench - start.bench) / units,
    };
  }
}
