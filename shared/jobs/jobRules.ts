import { type CreateJobInput, isTerminal, type Job, type JobUpdate } from './jobTypes';

/** The progress a job starts with when its creator gives none. */
export const INITIAL_PROGRESS = { step: 'queued', index: 0, total: 1, percent: 0 } as const;

/** A new job record as `create` stores it. */
export function newJob(input: CreateJobInput, now: string): Job {
  return {
    id: input.id,
    type: input.type,
    status: input.status ?? 'queued',
    progress: input.progress ?? { ...INITIAL_PROGRESS },
    attempts: input.attempts ?? 0,
    createdAt: now,
    updatedAt: now,
    correlation: input.correlation ?? {},
    data: input.data ?? {},
  };
}

/** Applies an update to a job by the store's rules: progress never goes back; a terminal status sticks. */
export function applyJobUpdate(job: Job, update: JobUpdate, now: string): Job {
  const next: Job = { ...job, updatedAt: now };
  if (update.status && update.status !== job.status) {
    const allowed = !isTerminal(job.status) || update.reopen === true;
    if (allowed) {
      next.status = update.status;
      if (isTerminal(update.status)) next.completedAt = update.completedAt ?? now;
      else delete next.completedAt;
    }
  }
  if (update.progress) {
    const incoming = update.progress;
    const index = incoming.index ?? job.progress.index;
    const reopened = update.reopen === true && isTerminal(job.status) && !isTerminal(next.status);
    if (reopened || index >= job.progress.index) {
      next.progress = {
        step: incoming.step ?? job.progress.step,
        index: reopened ? index : Math.max(index, job.progress.index),
        total: incoming.total ?? job.progress.total,
        percent: reopened
          ? (incoming.percent ?? job.progress.percent)
          : Math.max(incoming.percent ?? job.progress.percent, job.progress.percent),
        ...(incoming.message !== undefined
          ? { message: incoming.message }
          : job.progress.message !== undefined
            ? { message: job.progress.message }
            : {}),
      };
    }
  }
  if (update.error === null) delete next.error;
  else if (update.error) next.error = update.error;
  if (update.result) next.result = update.result;
  if (update.data) next.data = { ...job.data, ...update.data };
  if (update.attemptsIncrement) next.attempts = job.attempts + update.attemptsIncrement;
  return next;
}
