/**
 * The capacity model: storage requests of a run grouped by resource (each table partition named by pattern, each
 * queue, each container), per unit of work, divided into Azure's published scalability targets. Pure, so the
 * arithmetic is tested without a run (test/unit/capacityModel.test.ts).
 *
 * Targets (Azure Storage scalability targets, standard general-purpose v2 account):
 * - account: 20,000 requests/s — https://learn.microsoft.com/azure/storage/common/scalability-targets-standard-account
 * - one queue: 2,000 messages/s (1 KiB messages) — https://learn.microsoft.com/azure/storage/queues/scalability-targets
 * - one table partition: 2,000 entities/s (1 KiB entities) — https://learn.microsoft.com/azure/storage/tables/scalability-targets
 * - one blob: 500 requests/s — https://learn.microsoft.com/azure/storage/blobs/scalability-targets
 */
import type { Service, StorageRequest } from './storageRequests';

export const TARGETS = {
  accountRequestsPerSecond: 20_000,
  queueMessagesPerSecond: 2_000,
  partitionEntitiesPerSecond: 2_000,
  blobRequestsPerSecond: 500,
} as const;

/** One resource by pattern: `table jobs / idx-status-{status}`, `queue order-reserve`, `container outbox / {blob}`. */
export interface ResourceKey {
  service: Service;
  /** The pattern's name as shown. */
  label: string;
  /** The concrete resource (a partition key, a blob name, a queue name): per-resource targets apply to each. */
  concrete: string;
  /** What one of the concrete resources may take per second, in `units`; undefined: only the account limit. */
  target: number | undefined;
  targetUnit: string;
}

/** Replaces the parts of a name that vary with the data by a placeholder, so partitions group by pattern. */
export function namePattern(name: string): string {
  return name
    .replace(/"?0x[0-9A-F]{6,}"?/g, '{etag}')
    .replace(/(?<![A-Za-z0-9_-])[a-z]{2,8}_[A-Za-z0-9_-]{22}(\.\d+)?/g, '{job}')
    .replace(/\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?/g, '{day}')
    .replace(/(?<![\dA-Za-z])\d{8}(?!\d)/g, '{day}')
    .replace(/[A-Za-z0-9_-]{43}/g, '{hash}')
    .replace(/\d+/g, '{n}');
}

function stripPrefix(name: string, prefix: string): string {
  if (!prefix) return name;
  if (name.startsWith(`${prefix}-`)) return name.slice(prefix.length + 1);
  if (name.startsWith(prefix)) return name.slice(prefix.length);
  return name;
}

export interface ResourceRules {
  /** The RESOURCE_PREFIX of the run, removed from names. */
  prefix: string;
  /** Tables whose partition keys are data, not ids (for example `inventory`: `{sku}`), by unprefixed name. */
  partitionLabels?: Record<string, string>;
  /** Literal text replaced in every name before the patterns apply (the host id, the prefix inside blob names). */
  literals?: [string, string][];
}

function literal(text: string, rules: ResourceRules): string {
  let out = text;
  for (const [from, to] of rules.literals ?? []) out = out.split(from).join(to);
  return out;
}

export function resourceOf(request: StorageRequest, rules: ResourceRules): ResourceKey {
  const name = literal(stripPrefix(request.name, rules.prefix), rules);
  switch (request.service) {
    case 'table': {
      if (!name)
        return {
          service: 'table',
          label: 'table service (create table)',
          concrete: '',
          target: undefined,
          targetUnit: '',
        };
      if (!request.part) {
        return {
          service: 'table',
          label: `table ${name} / (cross-partition scan)`,
          concrete: '',
          target: undefined,
          targetUnit: '',
        };
      }
      const partition = rules.partitionLabels?.[name] ?? namePattern(literal(request.part, rules));
      return {
        service: 'table',
        label: `table ${name} / ${partition}`,
        concrete: request.part,
        target: TARGETS.partitionEntitiesPerSecond,
        targetUnit: 'entities',
      };
    }
    case 'queue':
      if (!name)
        return { service: 'queue', label: 'queue service (list)', concrete: '', target: undefined, targetUnit: '' };
      return {
        service: 'queue',
        label: `queue ${namePattern(name)}`,
        concrete: name,
        target: TARGETS.queueMessagesPerSecond,
        targetUnit: 'messages',
      };
    case 'blob':
      if (!name) return { service: 'blob', label: 'blob service', concrete: '', target: undefined, targetUnit: '' };
      if (!request.part) {
        return {
          service: 'blob',
          label: `container ${name} (container calls)`,
          concrete: '',
          target: undefined,
          targetUnit: '',
        };
      }
      return {
        service: 'blob',
        label: `container ${name} / ${namePattern(literal(request.part, rules))}`,
        concrete: request.part,
        target: TARGETS.blobRequestsPerSecond,
        targetUnit: 'requests',
      };
    default: {
      const never: never = request.service;
      throw new Error(`unknown service ${String(never)}`);
    }
  }
}

/** Idle cost per concrete resource, in requests and units per second (empty receives apart). */
export interface IdleRates {
  seconds: number;
  emptyReceivesPerSecond: number;
  byResource: Map<string, { label: string; requests: number; units: number }>;
  requestsPerSecond: number;
}

function concreteId(key: ResourceKey): string {
  return `${key.label}\u0000${key.concrete}`;
}

export function idleRates(requests: readonly StorageRequest[], seconds: number, rules: ResourceRules): IdleRates {
  const byResource = new Map<string, { label: string; requests: number; units: number }>();
  let empty = 0;
  let total = 0;
  for (const request of requests) {
    if (request.emptyReceive) {
      empty++;
      continue;
    }
    total++;
    const key = resourceOf(request, rules);
    const entry = byResource.get(concreteId(key)) ?? { label: key.label, requests: 0, units: 0 };
    entry.requests += 1 / seconds;
    entry.units += request.units / seconds;
    byResource.set(concreteId(key), entry);
  }
  return { seconds, emptyReceivesPerSecond: empty / seconds, byResource, requestsPerSecond: total / seconds };
}

export interface ResourceLoad {
  label: string;
  service: Service;
  /** How many concrete resources of the pattern the run touched. */
  distinct: number;
  requestsPerUnit: number;
  /** Target units (entities, messages, requests) per unit of work on the busiest concrete resource. */
  hottestPerUnit: number;
  target: number | undefined;
  targetUnit: string;
  /** True when each unit of work has its own (one partition per job): its load does not grow with throughput. */
  perUnit: boolean;
  /** Units of work per second at which this resource reaches its target; Infinity when it never does. */
  ceiling: number;
  /** The operations seen, most frequent first, for the detail column. */
  ops: string;
}

export interface CapacityReport {
  unit: string;
  units: number;
  requestsPerUnit: number;
  byService: Record<Service, number>;
  accountCeiling: number;
  resources: ResourceLoad[];
  /** The resource that reaches its target first (lowest ceiling), if any does before the account. */
  binding: ResourceLoad | undefined;
  emptyReceivesPerSecond: number;
  seconds: number;
}

/**
 * Groups one phase's requests by resource, minus the idle polling (empty receives dropped; the idle rate of every
 * other request, measured before, subtracted per concrete resource for the phase's duration), per unit of work.
 */
export function capacityReport(
  phase: { unit: string; units: number; seconds: number; requests: readonly StorageRequest[] },
  idle: IdleRates,
  rules: ResourceRules,
): CapacityReport {
  const concrete = new Map<string, { key: ResourceKey; requests: number; units: number; ops: Map<string, number> }>();
  let empty = 0;
  for (const request of phase.requests) {
    if (request.emptyReceive) {
      empty++;
      continue;
    }
    const key = resourceOf(request, rules);
    const id = concreteId(key);
    const entry = concrete.get(id) ?? { key, requests: 0, units: 0, ops: new Map<string, number>() };
    entry.requests++;
    entry.units += request.units;
    entry.ops.set(request.op, (entry.ops.get(request.op) ?? 0) + 1);
    concrete.set(id, entry);
  }
  for (const [id, entry] of concrete) {
    const background = idle.byResource.get(id);
    if (!background) continue;
    const requests = Math.max(0, entry.requests - background.requests * phase.seconds);
    const ratio = entry.requests > 0 ? requests / entry.requests : 0;
    entry.units *= ratio;
    for (const [op, count] of entry.ops) entry.ops.set(op, count * ratio);
    entry.requests = requests;
  }
  const byLabel = new Map<string, (typeof concrete extends Map<string, infer V> ? V : never)[]>();
  for (const entry of concrete.values()) {
    if (entry.requests < 0.5) continue; // the idle cost, all of it
    byLabel.set(entry.key.label, [...(byLabel.get(entry.key.label) ?? []), entry]);
  }
  const resources: ResourceLoad[] = [];
  const byService: Record<Service, number> = { blob: 0, queue: 0, table: 0 };
  let total = 0;
  for (const [label, entries] of byLabel) {
    const first = entries[0];
    if (!first) continue;
    const requests = entries.reduce((sum, e) => sum + e.requests, 0);
    const hottest = Math.max(...entries.map((e) => e.units)) / phase.units;
    const perUnit = phase.units > 1 && entries.length >= 0.9 * phase.units;
    const ops = new Map<string, number>();
    for (const entry of entries) for (const [op, count] of entry.ops) ops.set(op, (ops.get(op) ?? 0) + count);
    const target = first.key.target;
    resources.push({
      label,
      service: first.key.service,
      distinct: entries.length,
      requestsPerUnit: requests / phase.units,
      hottestPerUnit: hottest,
      target,
      targetUnit: first.key.targetUnit,
      perUnit,
      ceiling: target === undefined || perUnit || hottest === 0 ? Infinity : target / hottest,
      ops: [...ops.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([op, count]) => `${op} ${round(count / phase.units, 2)}`)
        .join(', '),
    });
    byService[first.key.service] += requests / phase.units;
    total += requests / phase.units;
  }
  resources.sort((a, b) => a.ceiling - b.ceiling || b.requestsPerUnit - a.requestsPerUnit);
  const accountCeiling = total > 0 ? TARGETS.accountRequestsPerSecond / total : Infinity;
  const firstResource = resources[0];
  return {
    unit: phase.unit,
    units: phase.units,
    requestsPerUnit: total,
    byService,
    accountCeiling,
    resources,
    binding: firstResource && firstResource.ceiling < Infinity ? firstResource : undefined,
    emptyReceivesPerSecond: empty / phase.seconds,
    seconds: phase.seconds,
  };
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function ceilingText(value: number): string {
  return value === Infinity ? '—' : `${Math.round(value).toLocaleString('en-US')}`;
}

/** What binds first for a job: the lowest per-resource ceiling, or the account when that is lower. */
export function bindingSummary(report: CapacityReport): string {
  const account = `account limit (${TARGETS.accountRequestsPerSecond.toLocaleString('en-US')} requests/s ÷ ${round(report.requestsPerUnit)} requests per ${report.unit}): **${ceilingText(report.accountCeiling)} ${report.unit}s/s**`;
  const binding = report.binding;
  if (!binding || binding.ceiling >= report.accountCeiling) {
    return `binds first: the ${account}${binding ? `; first single resource: ${binding.label} at ${ceilingText(binding.ceiling)} ${report.unit}s/s` : ''}`;
  }
  return `binds first: **${binding.label}** at **${ceilingText(binding.ceiling)} ${report.unit}s/s** (${binding.target?.toLocaleString('en-US')} ${binding.targetUnit}/s ÷ ${round(binding.hottestPerUnit, 2)} per ${report.unit}); ${account}`;
}

export function reportMarkdown(report: CapacityReport, rows = 12): string {
  const lines = [
    bindingSummary(report),
    '',
    `| resource (pattern) | distinct | requests per ${report.unit} | target units per ${report.unit} on the busiest | target per resource | ceiling (${report.unit}s/s) | operations per ${report.unit} |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...report.resources.slice(0, rows).map((r) => {
      const target = r.target === undefined ? 'account only' : `${r.target.toLocaleString('en-US')} ${r.targetUnit}/s`;
      const ceiling = r.perUnit ? `— (one per ${report.unit})` : ceilingText(r.ceiling);
      return `| ${r.label} | ${r.distinct} | ${round(r.requestsPerUnit, 2)} | ${round(r.hottestPerUnit, 2)} | ${target} | ${ceiling} | ${r.ops} |`;
    }),
  ];
  if (report.resources.length > rows) {
    const rest = report.resources.slice(rows);
    lines.push(
      `| ${rest.length} more (none binds before those above) | | ${round(
        rest.reduce((s, r) => s + r.requestsPerUnit, 0),
        2,
      )} | | | | |`,
    );
  }
  lines.push(
    `| **all (account)** | | **${round(report.requestsPerUnit, 1)}** (table ${round(report.byService.table, 1)}, queue ${round(report.byService.queue, 1)}, blob ${round(report.byService.blob, 1)}) | | ${TARGETS.accountRequestsPerSecond.toLocaleString('en-US')} requests/s | **${ceilingText(report.accountCeiling)}** | |`,
  );
  return lines.join('\n');
}
