import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchOptionsFromArgs, runBench, runBenchWorker } from '../src/cli/bench.js';
import { BENCH_TUNABLE } from '../src/cli/bench-task.js';
import { processOutput } from '../src/cli/io.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '10k' },
    repeat: { type: 'string' },
    dims: { type: 'string' },
    queries: { type: 'string' },
    'latency-queries': { type: 'string' },
    'incremental-docs': { type: 'string' },
    'doc-chunks': { type: 'string' },
    seed: { type: 'string' },
    'skip-langchain': { type: 'boolean', default: false },
    json: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
    worker: { type: 'boolean', default: false },
  },
});

if (values.worker) await runBenchWorker();
else {
  const tuning = Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        BENCH_TUNABLE.test(entry[0]) && entry[1] !== undefined && entry[1] !== '',
    ),
  );
  await runBench(benchOptionsFromArgs(values, fileURLToPath(import.meta.url), tuning), processOutput);
}
