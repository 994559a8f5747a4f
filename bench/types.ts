// What a benchmark returns. Each names its own metrics; `target` says which
// metric the issue set a goal for, and `baseline` holds the same metrics
// measured in the same run for something to compare against.
export interface BenchResult {
  metrics: Record<string, number>;
  units?: Record<string, string>;
  target?: { metric: string; min?: number; max?: number };
  baseline?: Record<string, number>;
  notes?: string;
}

export interface Benchmark {
  name: string;
  run: () => Promise<BenchResult> | BenchResult;
}
