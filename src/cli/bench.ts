import { fork } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_BENCH_SEED, DEFAULT_CHUNKS_PER_DOCUMENT, parseSize } from './bench-corpus.js';
import { runExactTask } from './bench-exact.js';
import { runLangchainTask } from './bench-langchain.js';
import {
  median,
  medianOfRuns,
  recallAtK,
  type LatencyStats,
  type Neighbors,
  type StallReport,
} from './bench-stats.js';
import {
  benchConfig,
  prepareCorpus,
  type BenchSystem,
  type BenchTask,
  type ExactRun,
  type LangchainRun,
  type SystemResult,
  type VerbatimRun,
} from './bench-task.js';
import { runVerbatimTask } from './bench-verbatim.js';
import { measuredChildExecArgv } from './node-flags.js';
import type { CliOutput } from './io.js';

export { recallAtK, type Neighbors } from './bench-stats.js';

/** Options of {@link runBench}, as the command line gives them. */
export interface BenchOptions {
  /** `10k`, `100k`, `1m` or a number of chunks. */
  size: string;
  /** Runs per system; the report gives medians. Default 3, or 1 from 1M chunks up. */
  repeat?: number;
  dims?: number;
  /** Queries for recall@10. Default 200. */
  queries?: number;
  /** Queries timed per latency. Default max(500, queries). */
  latencyQueries?: number;
  seed?: number;
  chunksPerDocument?: number;
  /** Documents of the "add / remove 1,000 documents" measurement. Default 1000. */
  incrementalDocuments?: number;
  skipLangchain?: boolean;
  /** Where to write the JSON report. Default `bench-results/<size>-<timestamp>.json`. */
  jsonPath?: string;
  /**
   * Run each system in its own child process (this script, with `--worker`), so that peak RSS is per system and one
   * system's garbage does not slow the next. `false` runs everything in this process (tests).
   */
  isolate?: false | { script: string; maxOldSpaceMb?: number };
  /** Index settings (`HNSW_*`, `INDEX_*`) that override the configuration's defaults, to compare tunings. */
  tuning?: Record<string, string>;
}

/** One line of the printed table, kept in the JSON so runs can be compared line by line. */
export interface BenchRow {
  metric: string;
  unit: 'ms' | 's' | 'MB' | '/s' | '%' | 'count' | 'share';
  /** Which way is better; ratios are "how many times better Verbatim is" (> 1: Verbatim wins). */
  better: 'lower' | 'higher' | 'none';
  verbatim: number | null;
  langchain: number | null;
  exact: number | null;
  verbatimVsLangchain: number | null;
  verbatimVsExact: number | null;
}

/** The JSON written by `npm run bench`. */
export interface BenchReport {
  formatVersion: 1;
  createdAt: string;
  options: Required<Omit<BenchOptions, 'isolate' | 'jsonPath' | 'skipLangchain'>> & {
    chunks: number;
    isolated: boolean;
    langchain: boolean;
  };
  machine: {
    node: string;
    platform: string;
    arch: string;
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    /** The Node.js flags of the processes that ran the systems (the bot's V8 flags among them when isolated). */
    nodeFlags: string[];
  };
  corpus: {
    documents: number;
    chunks: number;
    characters: number;
    averageChunkCharacters: number;
    generationMs: number;
  };
  embedder: {
    id: string;
    dimensions: number;
    /** `LocalHashEmbeddings` on one thread. */
    chunksPerSecond: number;
    charactersPerSecond: number;
    /** The embedder `createEmbeddings` builds (worker threads for large batches). */
    shipped: { chunksPerSecond: number; batch: number; threads: number };
    query: LatencyStats;
  };
  verbatim: SystemSummary<VerbatimRun>;
  langchain: SystemSummary<LangchainRun> | null;
  exact: SystemSummary<ExactRun>;
  table: BenchRow[];
  notes: string[];
}

export interface SystemSummary<Run> {
  params: Record<string, number | string>;
  /** Leaf-wise median of the runs. */
  median: Run;
  runs: Run[];
  /** recall@10 against exact search, median of the runs (exact search: 1 by definition). */
  recallAt10: number;
  recallRuns: number[];
  /** recall@10 of the other result sets (LangChain: `atVerbatimEf`), median of the runs. */
  extraRecallAt10: Record<string, number>;
  peakRssBytes: number;
  rssBeforeBuildBytes: number;
}

function resolveOptions(options: BenchOptions): BenchReport['options'] {
  const chunks = parseSize(options.size);
  const queries = options.queries ?? 200;
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`--${name} must be a positive integer, got ${value}`);
    return value;
  };
  return {
    size: options.size,
    chunks,
    repeat: positive('repeat', options.repeat ?? (chunks >= 1_000_000 ? 1 : 3)),
    dims: positive('dims', options.dims ?? 256),
    queries: positive('queries', queries),
    latencyQueries: positive('latency-queries', options.latencyQueries ?? Math.max(500, queries)),
    seed: options.seed ?? DEFAULT_BENCH_SEED,
    chunksPerDocument: positive('doc-chunks', options.chunksPerDocument ?? DEFAULT_CHUNKS_PER_DOCUMENT),
    incrementalDocuments: positive('incremental-docs', options.incrementalDocuments ?? 1000),
    isolated: options.isolate !== false && options.isolate !== undefined,
    langchain: !options.skipLangchain,
    tuning: options.tuning ?? {},
  };
}

/** Runs one system's measurements in this process: the entry point of a worker and of in-process runs. */
export async function runBenchTask(task: BenchTask): Promise<SystemResult> {
  const corpus = prepareCorpus(task);
  await mkdir(task.workDir, { recursive: true });
  switch (task.system) {
    case 'verbatim':
      return runVerbatimTask(task, corpus);
    case 'langchain':
      return runLangchainTask(task, corpus);
    case 'exact':
      return runExactTask(task, corpus);
  }
}

/** Command-line values (`node:util` parseArgs) to {@link BenchOptions}. */
export function benchOptionsFromArgs(
  values: Record<string, string | boolean | undefined>,
  script: string,
  tuning: Record<string, string> = {},
): BenchOptions {
  const number = (name: string): number | undefined => {
    const raw = values[name];
    if (typeof raw !== 'string') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new RangeError(`--${name} must be a number, got "${raw}"`);
    return value;
  };
  const optional = <K extends keyof BenchOptions>(key: K, value: BenchOptions[K] | undefined) =>
    value === undefined ? {} : { [key]: value };
  return {
    size: typeof values.size === 'string' ? values.size : '10k',
    ...optional('repeat', number('repeat')),
    ...optional('dims', number('dims')),
    ...optional('queries', number('queries')),
    ...optional('latencyQueries', number('latency-queries')),
    ...optional('seed', number('seed')),
    ...optional('chunksPerDocument', number('doc-chunks')),
    ...optional('incrementalDocuments', number('incremental-docs')),
    ...optional('jsonPath', typeof values.json === 'string' ? values.json : undefined),
    skipLangchain: values['skip-langchain'] === true,
    isolate: values['in-process'] === true ? false : { script },
    tuning,
  };
}

type WorkerReply = { ok: true; result: SystemResult } | { ok: false; error: string };

/** `scripts/bench.ts --worker`: receives one task from the parent, runs it, sends the result back. */
export async function runBenchWorker(): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('the bench worker must be started by npm run bench (no IPC channel)');
  const task = await new Promise<BenchTask>((resolve) =>
    process.once('message', (m) => resolve(m as BenchTask)),
  );
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: await runBenchTask(task) };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  await new Promise<void>((resolve, reject) =>
    send(reply, undefined, {}, (err) => (err ? reject(err) : resolve())),
  );
  process.disconnect?.();
}

function runInChild(task: BenchTask, script: string, execArgv: string[]): Promise<SystemResult> {
  const child = fork(script, ['--worker'], {
    execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.once('message', (message) => {
      settled = true;
      const reply = message as WorkerReply;
      if (reply.ok) resolve(reply.result);
      else reject(new Error(`bench ${task.system} failed in its worker:\n${reply.error}`));
    });
    child.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.once('exit', (code, signal) => {
      if (!settled)
        reject(
          new Error(`bench ${task.system} worker exited (${signal ?? `code ${code}`}) without a result`),
        );
      settled = true;
    });
    child.send(task);
  });
}

function summarize<Run>(
  result: {
    runs: Run[];
    params: Record<string, number | string>;
    peakRssBytes: number;
    rssBeforeBuildBytes: number;
    extraNeighbors?: Record<string, Neighbors[][]>;
  },
  recallRuns: number[],
  truth: Neighbors[],
): SystemSummary<Run> {
  const extra = Object.entries(result.extraNeighbors ?? {}).map(([name, runs]) => [
    name,
    median(runs.map((n) => recallAtK(n, truth, 10))),
  ]);
  return {
    extraRecallAt10: Object.fromEntries(extra),
    params: result.params,
    median: medianOfRuns(result.runs),
    runs: result.runs,
    recallAt10: median(recallRuns),
    recallRuns,
    peakRssBytes: result.peakRssBytes,
    rssBeforeBuildBytes: result.rssBeforeBuildBytes,
  };
}

/**
 * `npm run bench`: builds the synthetic corpus, measures exact search, Verbatim and LangChain's HNSWLib on the same
 * chunks and embedder (one after the other, never concurrently: on two cores they would time each other), computes
 * recall@10 against exact search, prints the table and writes the JSON report.
 */
export async function runBench(
  options: BenchOptions,
  io: CliOutput,
  now = new Date(),
): Promise<{ report: BenchReport; jsonPath: string }> {
  const resolved = resolveOptions(options);
  const nodeFlags = options.isolate
    ? measuredChildExecArgv(process.execArgv, options.isolate.maxOldSpaceMb ?? defaultHeapMb())
    : [...process.execArgv];
  const root = await mkdtemp(join(tmpdir(), 'verbatim-bench-'));
  const results: Partial<Record<BenchSystem, SystemResult>> = {};
  const efSearch = benchConfig(resolved.tuning).HNSW_EF_SEARCH;
  const failures: string[] = [];
  try {
    const systems: BenchSystem[] = [
      'exact',
      'verbatim',
      ...(resolved.langchain ? (['langchain'] as const) : []),
    ];
    for (const system of systems) {
      const task: BenchTask = {
        system,
        chunks: resolved.chunks,
        seed: resolved.seed,
        chunksPerDocument: resolved.chunksPerDocument,
        dims: resolved.dims,
        recallQueries: resolved.queries,
        latencyQueries: resolved.latencyQueries,
        repeat: resolved.repeat,
        incrementalDocuments: resolved.incrementalDocuments,
        workDir: join(root, system),
        efSearch,
        tuning: resolved.tuning,
      };
      io.err(
        `bench: ${system} on ${resolved.chunks.toLocaleString('en')} chunks, ${resolved.repeat} run(s)…`,
      );
      const started = performance.now();
      const run = () =>
        options.isolate ? runInChild(task, options.isolate.script, nodeFlags) : runBenchTask(task);
      try {
        results[system] = await run();
      } catch (err) {
        // LangChain is the comparison, not the subject: when it cannot cope (at 1M chunks its docstore.json nears
        // V8's longest string), the report says so and the run goes on.
        if (system !== 'langchain') throw err;
        failures.push(
          `LangChain HNSWLib failed: ${err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err)}`,
        );
        io.err(`bench: ${failures.at(-1)}`);
        continue;
      }
      io.err(`bench: ${system} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  const report = assembleReport(resolved, results, now, failures, nodeFlags);
  const jsonPath =
    options.jsonPath ??
    join('bench-results', `${resolved.size}-${now.toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  io.out(renderBenchTable(report));
  io.out(`\nJSON report: ${jsonPath}`);
  return { report, jsonPath };
}

/** Three quarters of the machine's memory: the 1M-chunk builds need more than V8's default heap. */
function defaultHeapMb(): number {
  return Math.max(4096, Math.floor((totalmem() / 2 ** 20) * 0.75));
}

function assembleReport(
  options: BenchReport['options'],
  results: Partial<Record<BenchSystem, SystemResult>>,
  now: Date,
  failures: readonly string[],
  nodeFlags: string[],
): BenchReport {
  const exact = results.exact;
  const verbatim = results.verbatim;
  const langchain = results.langchain;
  if (exact?.system !== 'exact' || verbatim?.system !== 'verbatim')
    throw new Error('bench: a system produced no result');
  const truth = exact.neighbors[0] ?? [];
  const recalls = (neighbors: SystemResult['neighbors']) => neighbors.map((n) => recallAtK(n, truth, 10));
  const exactSummary = summarize<ExactRun>(exact, recalls(exact.neighbors), truth);
  const verbatimSummary = summarize<VerbatimRun>(verbatim, recalls(verbatim.neighbors), truth);
  const langchainSummary =
    langchain?.system === 'langchain'
      ? summarize<LangchainRun>(langchain, recalls(langchain.neighbors), truth)
      : null;
  const build = exactSummary.median.build;
  const mib = 2 ** 20;
  const partial = {
    formatVersion: 1 as const,
    createdAt: now.toISOString(),
    options,
    machine: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '',
      memoryBytes: totalmem(),
      nodeFlags,
    },
    corpus: {
      documents: verbatim.corpus.documents,
      chunks: build.chunks,
      characters: verbatim.corpus.characters,
      averageChunkCharacters: build.characters / Math.max(1, build.chunks),
      generationMs: verbatim.corpus.generationMs,
    },
    embedder: {
      id: String(exact.params.embedder),
      dimensions: options.dims,
      chunksPerSecond: build.chunks / (build.embeddingMs / 1000),
      charactersPerSecond: build.characters / (build.embeddingMs / 1000),
      shipped: {
        chunksPerSecond: build.chunks / (exactSummary.median.shippedEmbedder.ms / 1000),
        batch: exactSummary.median.shippedEmbedder.batch,
        threads: availableParallelism(),
      },
      query: exactSummary.median.latency.embedQuery,
    },
    verbatim: verbatimSummary,
    langchain: langchainSummary,
    exact: exactSummary,
    notes: [
      ...failures,
      'Times are medians over the runs; latencies are per-run p50/p99, then the median of the runs.',
      `Ratios are how many times better Verbatim is (> 1: Verbatim wins): other/Verbatim for times and sizes, Verbatim/other for recall and throughput.`,
      "Verbatim ingest = service.refresh() into an empty data directory: loadCorpus over .md files written beforehand (untimed), then the store's stages (SyncReport.stages).",
      `LangChain ingest = our chunker (same chunks) + HNSWLib.fromTexts (embedding timed separately, the rest is indexing) + save(); ef stays at ${langchainSummary?.params.efSearch ?? 10} (hnswlib-node default, not settable through HNSWLib).`,
      'Exact = hnswlib-node BruteforceSearch (cosine) over the same vectors, embedded on one thread with LocalHashEmbeddings: the recall ground truth and the one-thread embedder throughput.',
      'Verbatim and LangChain get the same embedder instance kind, built by createEmbeddings as createApp does (identical vectors).',
      `Peak RSS is the peak of the process that ran the system${options.isolated ? ' (one child process per system, corpus generation included)' : ' (all systems in this one process, so each figure is the process peak so far)'}; ${(verbatim.rssBeforeBuildBytes / mib).toFixed(0)} MB of it was already there before the build.`,
      `Incremental: ${options.incrementalDocuments} documents (${verbatimSummary.median.incremental.addMany.chunks} chunks) added then removed on the built index; LangChain times include save(), as Verbatim's include persisting; HNSWLib cannot remove a document.`,
    ],
  };
  return { ...partial, table: buildRows(partial) };
}

type Draft = Omit<BenchReport, 'table'>;

function buildRows(report: Draft): BenchRow[] {
  const v = report.verbatim.median;
  const lc = report.langchain?.median;
  const ex = report.exact.median;
  const rows: BenchRow[] = [];
  const row = (
    metric: string,
    unit: BenchRow['unit'],
    better: BenchRow['better'],
    values: [number | null | undefined, number | null | undefined, number | null | undefined],
  ) => {
    const [verbatim = null, langchain = null, exact = null] = values.map((x) =>
      x === undefined || x === null || Number.isNaN(x) ? null : x,
    );
    const ratio = (other: number | null) => {
      if (verbatim === null || other === null || better === 'none') return null;
      const r = better === 'lower' ? other / verbatim : verbatim / other;
      return Number.isFinite(r) ? r : null;
    };
    rows.push({
      metric,
      unit,
      better,
      verbatim,
      langchain,
      exact,
      verbatimVsLangchain: ratio(langchain),
      verbatimVsExact: ratio(exact),
    });
  };
  const s = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
  const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);
  const stage = (name: string) => v.ingest.stages[name];

  row('chunks indexed', 'count', 'none', [v.ingest.chunks, lc?.ingest.chunks, ex.build.chunks]);
  row('ingest, end to end', 's', 'lower', [
    s(v.ingest.totalMs),
    s(lc?.ingest.totalMs),
    s(ex.build.chunkingMs + ex.build.embeddingMs + ex.build.indexingMs),
  ]);
  row('  loading (.md files)', 's', 'lower', [s(v.ingest.loadingMs), null, null]);
  // Verbatim embeds each batch while it chunks the next documents, so the two stages are reported together.
  const sum = (...ms: (number | undefined)[]) =>
    ms.some((m) => m === undefined) ? undefined : ms.reduce<number>((a, m) => a + (m ?? 0), 0);
  row('  chunking + embedding', 's', 'lower', [
    s(sum(stage('chunkingMs'), stage('embeddingMs'))),
    s(sum(lc?.ingest.chunkingMs, lc?.ingest.embeddingMs)),
    s(ex.build.chunkingMs + ex.build.embeddingMs),
  ]);
  row('  storing (SQLite)', 's', 'lower', [s(stage('storingMs')), null, null]);
  row('  indexing', 's', 'lower', [s(stage('indexingMs')), s(lc?.ingest.indexingMs), s(ex.build.indexingMs)]);
  row('  persisting', 's', 'lower', [s(stage('persistingMs')), s(lc?.ingest.persistingMs), null]);
  for (const [name, ms] of Object.entries(v.ingest.stages)) {
    if (!['chunkingMs', 'embeddingMs', 'storingMs', 'indexingMs', 'persistingMs'].includes(name))
      row(`  ${name.replace(/Ms$/, '')}`, 's', 'lower', [s(ms), null, null]);
  }
  row('ingest chunks per second', '/s', 'higher', [
    v.ingest.chunksPerSecond,
    lc?.ingest.chunksPerSecond,
    null,
  ]);
  row('longest event-loop stall, ingest', 'ms', 'lower', [v.ingest.maxStallMs, lc?.ingest.maxStallMs, null]);
  row('  hypervisor steal during it', 'ms', 'lower', [v.ingest.stallStealMs, null, null]);
  row('  event loop waiting for a core during it', 'ms', 'lower', [v.ingest.stallWaitedMs, null, null]);
  row('  longest with no steal', 'ms', 'lower', [v.ingest.maxQuietStallMs, null, null]);
  row('index size on disk', 'MB', 'lower', [mb(v.disk.bytes), mb(lc?.disk.bytes), null]);
  row('load time', 'ms', 'lower', [v.loadMs, lc?.loadMs, null]);
  row('peak RSS', 'MB', 'lower', [
    mb(report.verbatim.peakRssBytes),
    mb(report.langchain?.peakRssBytes),
    mb(report.exact.peakRssBytes),
  ]);
  row('recall@10 vs exact', 'share', 'higher', [
    report.verbatim.recallAt10,
    report.langchain?.recallAt10,
    report.exact.recallAt10,
  ]);
  const latency = (
    label: string,
    get: (run: { latency: Record<string, LatencyStats> }) => LatencyStats | undefined,
  ) => {
    const [a, b, c] = [get(v), lc ? get(lc) : undefined, get(ex)];
    row(`${label} p50`, 'ms', 'lower', [a?.p50, b?.p50, c?.p50]);
    row(`${label} p99`, 'ms', 'lower', [a?.p99, b?.p99, c?.p99]);
  };
  if (lc && report.langchain) {
    const ef = lc.atVerbatimEf.ef;
    row(`recall@10, LangChain index at ef ${ef}`, 'share', 'higher', [
      report.verbatim.recallAt10,
      report.langchain.extraRecallAt10.atVerbatimEf,
      null,
    ]);
    row(`vector search p50, LangChain index at ef ${ef}`, 'ms', 'lower', [
      v.latency.vector.p50,
      lc.atVerbatimEf.vector.p50,
      null,
    ]);
    row(`vector search p99, LangChain index at ef ${ef}`, 'ms', 'lower', [
      v.latency.vector.p99,
      lc.atVerbatimEf.vector.p99,
      null,
    ]);
  }
  latency('query embedding', (r) => r.latency.embedQuery);
  latency('vector search k=10', (r) => r.latency.vector);
  latency('lexical search k=10', (r) => r.latency.lexical);
  latency('hybrid retrieve k=6', (r) => r.latency.hybrid);
  latency('ask(), extractive', (r) => r.latency.ask);
  const inc = v.incremental;
  row('add 1 document', 'ms', 'lower', [inc.addOne.ms, lc?.incremental.addOne.ms, null]);
  row('remove 1 document', 'ms', 'lower', [inc.removeOne.ms, null, null]);
  row(`add ${report.options.incrementalDocuments} documents`, 's', 'lower', [
    s(inc.addMany.ms),
    s(lc?.incremental.addMany.ms),
    null,
  ]);
  row(`remove ${report.options.incrementalDocuments} documents`, 's', 'lower', [
    s(inc.removeMany.ms),
    null,
    null,
  ]);
  row('full rebuild (= ingest)', 's', 'lower', [s(v.ingest.totalMs), s(lc?.ingest.totalMs), null]);
  row(`add ${report.options.incrementalDocuments} docs / full rebuild`, '%', 'lower', [
    (100 * inc.addMany.ms) / v.ingest.totalMs,
    lc ? (100 * lc.incremental.addMany.ms) / lc.ingest.totalMs : null,
    null,
  ]);
  row('refresh, nothing changed', 'ms', 'lower', [inc.refreshUnchanged.ms, null, null]);
  row('refresh, one file added', 'ms', 'lower', [inc.refreshAddOne.ms, null, null]);
  const longest = Object.values(inc).reduce((a, b) => (b.maxStallMs > a.maxStallMs ? b : a));
  row('longest stall, add/remove/refresh', 'ms', 'lower', [
    longest.maxStallMs,
    lc ? Math.max(lc.incremental.addOne.maxStallMs, lc.incremental.addMany.maxStallMs) : null,
    null,
  ]);
  row('  hypervisor steal during it', 'ms', 'lower', [longest.stallStealMs, null, null]);
  row('  event loop waiting for a core during it', 'ms', 'lower', [longest.stallWaitedMs, null, null]);
  row('  longest with no steal', 'ms', 'lower', [
    Math.max(...Object.values(inc).map((op) => op.maxQuietStallMs)),
    null,
    null,
  ]);
  return rows;
}

function formatValue(value: number | null, unit: BenchRow['unit']): string {
  if (value === null) return 'n/a';
  if (unit === '/s') return Math.round(value).toLocaleString('en');
  if (unit === 'count') return Math.round(value).toLocaleString('en');
  if (unit === 'share') return value.toFixed(3);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en');
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

const formatRatio = (ratio: number | null) =>
  ratio === null ? '' : ratio >= 10 ? `${ratio.toFixed(0)}×` : `${ratio.toFixed(2)}×`;

/**
 * Where Verbatim's longest event-loop stalls happened (the phase names come from the store's progress reports), and
 * whose they were: the hypervisor's, other threads' (the event loop waiting for a core) or the event loop's own.
 */
function renderStalls(report: BenchReport): string {
  const v = report.verbatim.median;
  type Stalls = Omit<StallReport<unknown>, 'result' | 'ms'>;
  const ops: [string, Stalls][] = [
    ['ingest', v.ingest],
    ...Object.entries(v.incremental).map(([name, op]) => [name, op] as [string, Stalls]),
  ];
  const ms = (value: number) => `${formatValue(value, 'ms')} ms`;
  const describe = (total: number, phase: string, stolen: number, waited: number, ran: number) =>
    `${ms(total)} (${phase || '-'}` +
    (stolen > 0 ? `; ${ms(stolen)} stolen` : '') +
    (waited > 0 ? `; ${ms(waited)} waiting for a core` : '') +
    (total > 0 ? `; ${ms(ran)} running` : '') +
    ')';
  const longest = ops.map(
    ([name, op]) =>
      `${name} ${describe(op.maxStallMs, op.stallPhase, op.stallStealMs, op.stallWaitedMs, op.stallRanMs)}`,
  );
  const quiet = ops
    .filter(([, op]) => op.stallStealMs > 0)
    .map(
      ([name, op]) =>
        `${name} ${describe(op.maxQuietStallMs, op.quietStallPhase, 0, op.quietStallWaitedMs, op.quietStallRanMs)}`,
    );
  return (
    "Verbatim's longest stalls, with the phase when each began (→ ended), the hypervisor's steal time during it, " +
    "the event loop's wait for a core and its own running time (over the stall and the timer's 10 ms period): " +
    longest.join('; ') +
    (quiet.length > 0 ? `\nThe longest with no steal, where the longest had some: ${quiet.join('; ')}` : '')
  );
}

/** The table `npm run bench` prints: Verbatim, LangChain HNSWLib and exact search side by side, with ratios. */
export function renderBenchTable(report: BenchReport): string {
  const header = ['metric', 'unit', 'Verbatim', 'LangChain', 'exact', 'V vs LC', 'V vs exact'];
  const lines = report.table.map((r) => [
    r.metric,
    r.unit === 'count' || r.unit === 'share' ? '' : r.unit,
    formatValue(r.verbatim, r.unit),
    report.langchain ? formatValue(r.langchain, r.unit) : '-',
    formatValue(r.exact, r.unit),
    formatRatio(r.verbatimVsLangchain),
    formatRatio(r.verbatimVsExact),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const { corpus, embedder, options } = report;
  return [
    `Verbatim bench: ${corpus.chunks.toLocaleString('en')} chunks in ${corpus.documents.toLocaleString('en')} documents (${corpus.averageChunkCharacters.toFixed(0)} characters per chunk), ${options.dims} dimensions, ${options.repeat} run(s), ${options.queries} recall queries, ${options.latencyQueries} timed queries`,
    `Machine: ${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}${report.machine.nodeFlags.length > 0 ? ` (${report.machine.nodeFlags.join(' ')})` : ''}`,
    `Embedder ${embedder.id}: ${Math.round(embedder.chunksPerSecond).toLocaleString('en')} chunks/s (${(embedder.charactersPerSecond / 1e6).toFixed(2)} M characters/s) on one thread, ` +
      `${Math.round(embedder.shipped.chunksPerSecond).toLocaleString('en')} chunks/s as shipped (batches of ${embedder.shipped.batch}, ${embedder.shipped.threads} cores, threads started); ` +
      `query embedding p50 ${formatValue(embedder.query.p50, 'ms')} ms, p99 ${formatValue(embedder.query.p99, 'ms')} ms`,
    `Verbatim: M ${report.verbatim.params.m}, efConstruction ${report.verbatim.params.efConstruction}, ef ${report.verbatim.params.efSearch}, ` +
      `${report.verbatim.params.threads} graph thread(s) from ${report.verbatim.params.parallelMinChunks} chunks, ` +
      `hnswlib build ${report.verbatim.params.hnswlib} (the package's own is SSE-only; x86-64-v4 needs AVX-512)` +
      (report.langchain
        ? `; LangChain HNSWLib: M 16, efConstruction 200, ef ${report.langchain.params.efSearch}`
        : '; LangChain skipped'),
    '',
    format(header),
    format(widths.map((w) => '-'.repeat(w))),
    ...lines.map(format),
    '',
    renderStalls(report),
    '',
    ...report.notes.map((n) => `* ${n}`),
  ].join('\n');
}
