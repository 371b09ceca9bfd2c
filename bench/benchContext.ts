/** What every benchmark gets: one Azurite for the run, shared, and a place to log progress. */
export interface BenchContext {
  connectionString: string;
  /** Azurite's process, for benchmarks that report CPU time by process. */
  azuritePid?: number;
  log(message: string): void;
}

/** A benchmark's answer: a Markdown section for bench/RESULTS.md. */
export interface BenchResult {
  title: string;
  markdown: string;
}

export type Benchmark = (context: BenchContext) => Promise<BenchResult>;
