import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Latency distribution of one kind of operation, in milliseconds. */
export interface LatencyStats {
  p50: number;
  p99: number;
  mean: number;
  max: number;
  samples: number;
}

/** The `q` quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return {
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean,
    max: sorted.at(-1) ?? Number.NaN,
    samples: sorted.length,
  };
}

/**
 * The leaf-wise median of several runs of the same shape: every number is replaced by the median of the numbers at
 * the same place in all runs; other values are taken from the first run. Used to summarise `--repeat N` runs.
 */
export function medianOfRuns<T>(runs: readonly T[]): T {
  const first = runs[0];
  if (first === undefined) throw new RangeError('medianOfRuns needs at least one run');
  if (typeof first === 'number') return median(runs as readonly number[]) as T;
  if (Array.isArray(first))
    return first.map((_, i) => medianOfRuns(runs.map((r) => (r as unknown[])[i]))) as T;
  if (first !== null && typeof first === 'object') {
    return Object.fromEntries(
      Object.keys(first).map((key) => [
        key,
        medianOfRuns(runs.map((r) => (r as Record<string, unknown>)[key])),
      ]),
    ) as T;
  }
  return first;
}

/** Nearest neighbours of one query: chunk ids, closest first, with their cosine distances. */
export interface Neighbors {
  ids: readonly string[];
  distances: readonly number[];
}

/** Distances closer than this are ties (float32 arithmetic in different code paths). */
const TIE_EPSILON = 1e-5;

/**
 * recall@k of an approximate search against exact search on the same vectors: for each query, the share of the
 * approximate top k that belongs to the exact top k, averaged over the queries. A result at the same distance as
 * the exact k-th neighbour also counts, so that duplicate chunks (identical vectors, any of which is a correct
 * answer) do not lower the score.
 */
export function recallAtK(approximate: readonly Neighbors[], exact: readonly Neighbors[], k = 10): number {
  if (approximate.length !== exact.length)
    throw new RangeError(`recall: ${approximate.length} approximate results for ${exact.length} queries`);
  if (exact.length === 0) return Number.NaN;
  let total = 0;
  exact.forEach((truth, q) => {
    const wanted = Math.min(k, truth.ids.length);
    if (wanted === 0) {
      total += 1;
      return;
    }
    const truthIds = new Set(truth.ids.slice(0, wanted));
    const threshold = (truth.distances[wanted - 1] ?? Number.POSITIVE_INFINITY) + TIE_EPSILON;
    const found = approximate[q] as Neighbors;
    const seen = new Set<string>();
    let hits = 0;
    found.ids.slice(0, wanted).forEach((id, i) => {
      if (seen.has(id)) return;
      seen.add(id);
      if (truthIds.has(id) || (found.distances[i] ?? Number.POSITIVE_INFINITY) <= threshold) hits += 1;
    });
    total += hits / wanted;
  });
  return total / exact.length;
}

/** Lets a measured task say what it is doing, so that the longest stall can be attributed to a phase. */
export interface StallProbe {
  phase: string;
}

/** Timer period of the stall monitor: the resolution of the measurement. */
const STALL_TICK_MS = 10;

/** Milliseconds per tick of the kernel's CPU accounting in `/proc/stat` (USER_HZ, 100 on Linux). */
const PROC_STAT_TICK_MS = 10;

/**
 * The steal time of each CPU in a `/proc/stat` text, in milliseconds: time the hypervisor ran something else while
 * this virtual CPU had work (the eighth number of a `cpuN` line).
 */
export function parseStealMs(procStat: string): number[] {
  const steal: number[] = [];
  for (const line of procStat.split('\n')) {
    const match = /^cpu\d+\s+(.*)$/.exec(line);
    if (match) steal.push(Number((match[1] ?? '').split(/\s+/)[7] ?? 0) * PROC_STAT_TICK_MS);
  }
  return steal;
}

/** Each CPU's steal time so far (see {@link parseStealMs}); empty where `/proc/stat` cannot be read. */
export function readStealMs(): number[] {
  try {
    return parseStealMs(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return [];
  }
}

/**
 * Time the calling thread has spent on a CPU and runnable but waiting for one, in milliseconds, from a
 * `/proc/thread-self/schedstat` text (nanoseconds on the CPU, nanoseconds waiting on a run queue, time slices).
 */
export function parseSchedStat(text: string): { ranMs: number; waitedMs: number } | undefined {
  const match = /^(\d+)\s+(\d+)/.exec(text.trim());
  return match ? { ranMs: Number(match[1]) / 1e6, waitedMs: Number(match[2]) / 1e6 } : undefined;
}

/** {@link parseSchedStat} of the calling thread; undefined where the kernel does not provide it. */
export function readThreadSchedStat(): { ranMs: number; waitedMs: number } | undefined {
  try {
    return parseSchedStat(readFileSync('/proc/thread-self/schedstat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** What {@link withStallMonitor} measured. */
export interface StallReport<T> {
  result: T;
  ms: number;
  /** The longest stall. */
  maxStallMs: number;
  /** The phase the task had set when the longest stall began (→ when it ended, if different). */
  stallPhase: string;
  /** Steal time during the longest stall, on the CPU that lost the most (0: the hypervisor took nothing). */
  stallStealMs: number;
  /**
   * How long the event loop's thread waited for a CPU during the longest stall (runnable while other threads of
   * this machine ran; 0 where the kernel does not say).
   */
  stallWaitedMs: number;
  /**
   * How long the event loop's thread ran during the longest stall and the timer period before it: its own work
   * (code, garbage collection, page faults). What is neither this nor `stallWaitedMs` it spent blocked or asleep.
   */
  stallRanMs: number;
  /** The longest stall during which no CPU reported steal time (a pause the hypervisor does not explain). */
  maxQuietStallMs: number;
  /** `stallPhase`, `stallWaitedMs` and `stallRanMs` of the longest stall with no steal. */
  quietStallPhase: string;
  quietStallWaitedMs: number;
  quietStallRanMs: number;
}

/**
 * Watches the event loop while `task` runs and reports the longest stall: how much later than due a 10 ms timer
 * fired, at worst. A stall this long is how long a Discord interaction would wait before the bot could even defer
 * its reply. On a virtual machine the hypervisor may take a CPU away for 100 ms or more (on this 2-core machine, 30 to
 * 40 % of both CPUs for a second at a time, now and then): each stall is checked against the steal time the kernel
 * counted meanwhile (`readSteal`), so that the report tells such pauses from the process's own, and against the time
 * the event loop's thread ran and waited for a CPU while other threads ran (`readSched`: the monitor's timer runs on
 * that thread). The longest stall with no steal is described the same way, so that each stall the hypervisor does not
 * explain says whose it was.
 */
export async function withStallMonitor<T>(
  task: (probe: StallProbe) => Promise<T>,
  initialPhase = '',
  readSteal: () => number[] = readStealMs,
  readSched: () => { ranMs: number; waitedMs: number } | undefined = readThreadSchedStat,
): Promise<StallReport<T>> {
  const probe: StallProbe = { phase: initialPhase };
  let last = performance.now();
  let lastPhase = probe.phase;
  let lastSteal = readSteal();
  let lastSched = readSched();
  let longest: Omit<StallReport<T>, 'result' | 'ms'> = {
    maxStallMs: 0,
    stallPhase: '',
    stallStealMs: 0,
    stallWaitedMs: 0,
    stallRanMs: 0,
    maxQuietStallMs: 0,
    quietStallPhase: '',
    quietStallWaitedMs: 0,
    quietStallRanMs: 0,
  };
  const tick = () => {
    const now = performance.now();
    const steal = readSteal();
    const sched = readSched();
    const stall = now - last - STALL_TICK_MS;
    const stolen = Math.max(0, ...steal.map((ms, cpu) => ms - (lastSteal[cpu] ?? ms)));
    const phase = lastPhase === probe.phase ? probe.phase : `${lastPhase} → ${probe.phase}`;
    const since = (key: 'ranMs' | 'waitedMs') =>
      sched && lastSched ? Math.max(0, sched[key] - lastSched[key]) : 0;
    if (stall > longest.maxStallMs)
      longest = {
        ...longest,
        maxStallMs: stall,
        stallPhase: phase,
        stallStealMs: stolen,
        stallWaitedMs: since('waitedMs'),
        stallRanMs: since('ranMs'),
      };
    if (stolen === 0 && stall > longest.maxQuietStallMs)
      longest = {
        ...longest,
        maxQuietStallMs: stall,
        quietStallPhase: phase,
        quietStallWaitedMs: since('waitedMs'),
        quietStallRanMs: since('ranMs'),
      };
    last = now;
    lastPhase = probe.phase;
    lastSteal = steal;
    lastSched = sched;
  };
  const timer = setInterval(tick, STALL_TICK_MS);
  const started = performance.now();
  try {
    const result = await task(probe);
    const ms = performance.now() - started;
    // Let a timer that is due now fire, so that a stall at the very end is recorded too.
    await new Promise((resolve) => setTimeout(resolve, 0));
    tick();
    return { result, ms, ...longest };
  } finally {
    clearInterval(timer);
  }
}

/** Runs `task` once per item and returns the latency distribution (plus whatever the callback collects). */
export async function measureLatency<T>(
  items: readonly T[],
  task: (item: T, index: number) => unknown,
): Promise<LatencyStats> {
  const samples: number[] = [];
  for (let i = 0; i < items.length; i += 1) {
    const started = performance.now();
    await task(items[i] as T, i);
    samples.push(performance.now() - started);
  }
  return latencyStats(samples);
}

/** Total size in bytes of the files under `dir`, and per top-level entry. */
export async function directorySize(dir: string): Promise<{ bytes: number; files: Record<string, number> }> {
  const files: Record<string, number> = {};
  let bytes = 0;
  const walk = async (path: string, top: string | undefined): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full, top ?? entry.name);
      else if (entry.isFile()) {
        const size = (await stat(full)).size;
        bytes += size;
        const key = top ?? entry.name;
        files[key] = (files[key] ?? 0) + size;
      }
    }
  };
  await walk(dir, undefined);
  return { bytes, files };
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * Runs a full garbage collection when the process was started with `--expose-gc` (the bench's child processes are),
 * so that a store just closed does not count in the peak RSS of the one loaded after it.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
