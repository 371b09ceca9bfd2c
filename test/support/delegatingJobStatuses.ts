import type { CreateJobOptions, JobStatusPort, ListedJob } from '../../shared/jobs/jobPorts';
import type { JobStore } from '../../shared/jobs/jobStore';
import type { CreateJobInput, Job, JobUpdate, JobUpdateOptions } from '../../shared/jobs/jobTypes';

/**
 * The real job store on Azurite behind the runtime's port, every call passed through: a test double extends it and
 * overrides only the call it intercepts (a write that dies after landing, a hook before a write).
 */
export class DelegatingJobStatuses implements JobStatusPort {
  constructor(protected readonly store: JobStore) {}

  create(input: CreateJobInput, options?: CreateJobOptions): Promise<{ job: Job; created: boolean }> {
    return this.store.create(input, options);
  }

  get(id: string): Promise<Job | undefined> {
    return this.store.get(id);
  }

  draft(input: CreateJobInput): Job {
    return this.store.draft(input);
  }

  ensureListed(job: ListedJob): Promise<boolean> {
    return this.store.ensureListed(job);
  }

  update(id: string, change: (job: Job) => JobUpdate | undefined, options?: JobUpdateOptions): Promise<Job> {
    return this.store.update(id, change, options);
  }
}
