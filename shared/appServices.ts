import { SalesFacts } from './batch/salesFacts';
import { type AppConfig, appConfig } from './config/appConfig';
import { storageRedelivery } from './deadletters/deadLetterRedelivery';
import { DeadLetterStore } from './deadletters/deadLetterStore';
import { JobRuntime } from './jobs/jobRuntime';
import { JobStore } from './jobs/jobStore';
import { type ResourceNames, resourceNames } from './storage/resourceNames';
import { type StorageClients, storageClients } from './storage/storageClients';
import { orderJob } from './workflow/orderJob';

/** Everything a function needs, built once per process from the validated configuration. */
export interface AppServices {
  config: AppConfig;
  names: ResourceNames;
  storage: StorageClients;
  jobs: JobStore;
  deadLetters: DeadLetterStore;
  sales: SalesFacts;
  /** The job runtime over these stores: typed jobs, failures, dead letters, replay, cancel. */
  runtime: JobRuntime;
  /** Creates the tables and containers on first use; cheap afterwards. */
  ready: () => Promise<void>;
}

let services: AppServices | undefined;

export function appServices(): AppServices {
  if (services) return services;
  const config = appConfig();
  const names = resourceNames(config.resourcePrefix);
  const storage = storageClients(config.storageConnection);
  // JOBS_STORAGE may put the jobs table in an account of its own (the same clients when it does not).
  const jobs = new JobStore(storageClients(config.jobsStorageConnection).table(names.tables.jobs));
  const deadLetters = new DeadLetterStore(storage.table(names.tables.deadLetters));
  const sales = new SalesFacts(storage.table(names.tables.sales));
  const runtime = new JobRuntime({
    statuses: jobs,
    deadLetters,
    redelivery: storageRedelivery(storage),
    definitions: [orderJob],
    // Outside an invocation the Functions library itself logs to the console; a function with a `context` passes
    // its own (`runtime.withLog(context)`) so the line lands in that invocation's log.
    log: console,
  });
  let readiness: Promise<void> | undefined;
  const ready = () => {
    readiness ??= Promise.all([
      jobs.ensureTable(),
      deadLetters.ensureTable(),
      sales.ensureTable(),
      storage.blobs.getContainerClient(names.containers.uploads).createIfNotExists(),
      storage.blobs.getContainerClient(names.containers.thumbnails).createIfNotExists(),
    ]).then(
      () => undefined,
      (error: unknown) => {
        readiness = undefined; // try again on the next call
        throw error;
      },
    );
    return readiness;
  };
  services = { config, names, storage, jobs, deadLetters, sales, runtime, ready };
  return services;
}
