import type { Job } from '../jobs/jobTypes';
import { orderJob } from './orderJob';
import { nextStep, ORDER_JOB_TYPE, orderDataSchema } from './orderModel';
import type { OrderServices } from './orderPorts';

export interface SupervisorOptions {
  /** A job with no progress for this long is stuck, in milliseconds. */
  stepDeadlineMs: number;
  /** Re-drives per job before it is failed and compensated. */
  maxRedrives: number;
  now?: Date;
}

export interface SupervisorReport {
  examined: number;
  redriven: string[];
  gaveUp: string[];
}

const PAGE = 100;

/**
 * The supervisor of scheduler–agent–supervisor: finds orders in flight whose step has not moved within the deadline
 * (a lost message, an expired one, a crash between steps) and sends the pending step again. Step handlers are
 * idempotent, so a re-drive of a step that was only slow is harmless. After `maxRedrives` it fails the order and
 * compensates. The re-drive count advances with an ETag-conditional update, so two supervisors act once.
 */
export async function superviseOrders(services: OrderServices, options: SupervisorOptions): Promise<SupervisorReport> {
  const now = options.now ?? new Date();
  const report: SupervisorReport = { examined: 0, redriven: [], gaveUp: [] };
  let token: string | undefined;
  do {
    const page = await services.jobs.list({
      type: ORDER_JOB_TYPE,
      statuses: ['queued', 'running', 'compensating'],
      limit: PAGE,
      ...(token ? { continuationToken: token } : {}),
    });
    for (const job of page.jobs) {
      report.examined++;
      await superviseOne(services, job, options, now, report);
    }
    token = page.continuationToken;
  } while (token);
  return report;
}

async function superviseOne(
  services: OrderServices,
  job: Job,
  options: SupervisorOptions,
  now: Date,
  report: SupervisorReport,
): Promise<void> {
  const parsed = orderDataSchema.safeParse(job.data);
  if (!parsed.success) return;
  const data = parsed.data;
  const startsAt = data.notBefore ? Date.parse(data.notBefore) : 0;
  const lastMove = Math.max(Date.parse(job.updatedAt), startsAt);
  if (now.getTime() - lastMove < options.stepDeadlineMs) return;

  if (job.status === 'compensating' || data.cancelRequested) {
    await services.runtime.update(orderJob, job.id, (current) =>
      current.updatedAt !== job.updatedAt
        ? undefined
        : { event: { kind: 'redriven', message: 'compensation re-driven by the supervisor' } },
    );
    await services.sender.send(services.queues.compensate, {
      jobId: job.id,
      reason: job.error ?? { code: 'STUCK', message: 'compensation made no progress' },
      ...(data.cancelRequested ? { cancellation: true } : {}),
    });
    report.redriven.push(job.id);
    return;
  }
  const step = nextStep(data.done);
  if (!step) return;
  let acted: 'redrive' | 'give-up' | undefined;
  await services.runtime.update(
    orderJob,
    job.id,
    (current) => {
      // Someone else moved the job (a step, another supervisor) since it was listed: leave it.
      if (current.updatedAt !== job.updatedAt) return undefined;
      const redrives = current.data.redrives;
      if (redrives >= options.maxRedrives) {
        acted = 'give-up';
        return {
          error: { code: 'STUCK', message: `${step} made no progress after ${redrives} re-drives` },
          event: { kind: 'supervisor', message: `giving up on ${step} after ${redrives} re-drives` },
        };
      }
      acted = 'redrive';
      return {
        data: { redrives: redrives + 1 },
        event: { kind: 'redriven', message: `${step} re-driven (${redrives + 1}/${options.maxRedrives})` },
      };
    },
    job,
  );
  if (acted === 'redrive') {
    await services.sender.send(services.queues.step[step], { jobId: job.id, step, cause: 'redrive' });
    report.redriven.push(job.id);
  } else if (acted === 'give-up') {
    await services.sender.send(services.queues.compensate, {
      jobId: job.id,
      reason: { code: 'STUCK', message: `${step} made no progress after ${options.maxRedrives} re-drives` },
    });
    report.gaveUp.push(job.id);
  }
}
