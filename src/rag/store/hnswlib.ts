import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import portable from 'hnswlib-node';
import type { Bm25Kernel } from './lexical.js';

/** hnswlib-node's API: the package's own build, or the same source compiled for a newer x86-64 level. */
export type HnswlibModule = typeof portable;

/** x86-64 micro-architecture levels hnswlib is compiled for besides the package's own (SSE2) build. */
export type SimdLevel = 'x86-64-v3' | 'x86-64-v4';

/** Which build of hnswlib to use: the fastest one this CPU runs (`auto`), or always the package's own. */
export type HnswlibBuildMode = 'auto' | 'portable';

const V2 = ['cx16', 'lahf_lm', 'popcnt', 'sse4_1', 'sse4_2', 'ssse3'];
const V3 = [...V2, 'avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'];

/**
 * The levels, fastest first, with the `/proc/cpuinfo` flags a CPU must show to run code compiled for each (the
 * x86-64 psABI level definitions). The kernel hides flags the OS does not enable, so AVX state saving is covered.
 */
export const SIMD_LEVELS: readonly { level: SimdLevel; cpuFlags: readonly string[] }[] = [
  { level: 'x86-64-v4', cpuFlags: [...V3, 'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'] },
  { level: 'x86-64-v3', cpuFlags: V3 },
];

/** One level's builds: hnswlib-node's addon, and our int8 graph when it could be made. */
export interface SimdBuild {
  level: SimdLevel;
  file: string;
  int8File?: string;
}

/** What `scripts/build-hnswlib.ts` writes next to the builds it made at install time. */
export interface SimdBuildRecord {
  /** The hnswlib-node version whose source was compiled: a build of another version is never loaded. */
  hnswlibVersion: string;
  builds: SimdBuild[];
}

/** The build chosen, and why in one line (for the start-up log and the benchmark's report). */
export interface HnswlibChoice {
  build: SimdLevel | 'portable';
  /** Absolute path of the addon for a SIMD build. */
  file?: string;
  /** Absolute path of the int8 graph addon made for the same level, when there is one. */
  int8File?: string;
  reason: string;
}

/**
 * An hnsw graph of int8 codes (`native/int8-graph.cc`, compiled at install beside each SIMD build): the distance is
 * the negated dot product of the codes. Methods throw on bad arguments and on hnswlib's errors.
 */
export interface Int8GraphIndex {
  initIndex(maxElements: number, m: number, efConstruction: number, randomSeed: number): void;
  /** Loads a saved graph; the file's checksum must have been checked first (hnswlib trusts its sizes). */
  readIndex(path: string, maxElements: number): void;
  writeIndex(path: string): void;
  resizeIndex(maxElements: number): void;
  setEf(ef: number): void;
  getCurrentCount(): number;
  getMaxElements(): number;
  getIdsList(): number[];
  /** Adds `labels.length` points whose codes are packed one after the other. */
  addPoints(codes: Int8Array, labels: Float64Array): void;
  /** The `k` nearest labels below `visibleBelow` (Infinity: all), closest first. */
  searchKnn(query: Int8Array, k: number, visibleBelow: number): { neighbors: number[]; distances: number[] };
  /** Throws when the graph does not hold `label`. */
  markDelete(label: number): void;
}

/** The int8 graph addon's exports. */
export interface Int8GraphModule {
  Int8Graph: new (dimensions: number) => Int8GraphIndex;
  /**
   * The `k` nearest of the first `count` points of a plain array (row i: codes `i·d` to `(i+1)·d`, label
   * `labels[i]`, deleted when `deleted[i]` is not 0), comparing the query (d codes) with each: labels below
   * `visibleBelow` (Infinity: all) and not deleted, closest first, with the graph's distances. Codes must lie within
   * ±127.
   */
  scanKnn(
    codes: Int8Array,
    labels: Float64Array,
    deleted: Uint8Array,
    count: number,
    query: Int8Array,
    k: number,
    visibleBelow: number,
  ): { neighbors: number[]; distances: number[] };
  /**
   * {@link scanKnn} in two passes: `weights` (d int8 values) against every row of 4-bit codes (`nibbles`, d/2 bytes a
   * row, see `NibbleCodes`), keeping the best `candidates` rows, then `query` against those rows' int8 codes. Same
   * result format and distances; absent from an addon built before it was added.
   */
  scanKnn4?(
    nibbles: Uint8Array,
    codes: Int8Array,
    labels: Float64Array,
    deleted: Uint8Array,
    count: number,
    weights: Int8Array,
    query: Int8Array,
    candidates: number,
    k: number,
    visibleBelow: number,
  ): { neighbors: number[]; distances: number[] };
  /** BM25 scoring (`native/bm25.cc`); absent from an addon built before it was added. */
  bm25TopK?: Bm25Kernel;
  /** See {@link DotRows}; absent from an addon built before it was added. */
  dotRows?: DotRows;
  /**
   * Puts the calling thread under Linux's `SCHED_IDLE` policy: it then runs only on a core no other thread wants, and
   * the scheduler treats a core running only such threads as idle. Returns whether it did (false elsewhere than on
   * Linux); absent from an addon built before it was added.
   */
  idleScheduling?(): boolean;
}

/**
 * `out[i]` = the dot product (summed in double precision) of `query` with row `rows[i]` of `vectors` (rows of
 * `query.length` floats), for each `i` where `rows[i] >= 0`; other entries are left as they are. All the rows are
 * fetched from memory before any is read. Throws a RangeError for a row not stored, or `out` shorter than `rows`.
 */
export type DotRows = (
  vectors: Float32Array,
  rows: Int32Array,
  query: Float32Array,
  out: Float64Array,
) => void;

/** Everything the choice depends on, gathered by {@link loadHnswlib} and passed in so the rule can be tested. */
export interface HnswlibChoiceInput {
  mode: HnswlibBuildMode;
  platform: string;
  arch: string;
  /** The CPU's flags, or undefined where they cannot be read. */
  cpuFlags: ReadonlySet<string> | undefined;
  record: SimdBuildRecord | undefined;
  recordDir: string;
  installedVersion: string;
  fileExists: (path: string) => boolean;
}

/** The fastest build this CPU can run, or the package's own with the reason; never a build the CPU lacks flags for. */
export function chooseHnswlibBuild(input: HnswlibChoiceInput): HnswlibChoice {
  const portableBecause = (reason: string): HnswlibChoice => ({ build: 'portable', reason });
  if (input.mode === 'portable') return portableBecause('HNSW_SIMD=off');
  if (input.platform !== 'linux' || input.arch !== 'x64')
    return portableBecause(`no SIMD builds for ${input.platform}-${input.arch}`);
  if (!input.record) return portableBecause('no SIMD build was made at install (see npm ci output)');
  if (input.record.hnswlibVersion !== input.installedVersion)
    return portableBecause(
      `SIMD builds are of hnswlib-node ${input.record.hnswlibVersion}, ${input.installedVersion} is installed`,
    );
  if (!input.cpuFlags) return portableBecause('CPU flags unreadable');
  const flags = input.cpuFlags;
  for (const { level, cpuFlags } of SIMD_LEVELS) {
    if (!cpuFlags.every((f) => flags.has(f))) continue;
    const build = input.record.builds.find((b) => b.level === level);
    if (!build) continue;
    const file = join(input.recordDir, build.file);
    if (!input.fileExists(file)) continue;
    const int8File = build.int8File ? join(input.recordDir, build.int8File) : undefined;
    return {
      build: level,
      file,
      ...(int8File && input.fileExists(int8File) ? { int8File } : {}),
      reason: `this CPU runs ${level}`,
    };
  }
  return portableBecause('this CPU runs none of the SIMD builds made at install');
}

/** The flags line of `/proc/cpuinfo`, as a set. */
export function parseCpuFlags(cpuinfo: string): Set<string> | undefined {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  return line
    ? new Set(
        line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(/\s+/),
      )
    : undefined;
}

const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve('hnswlib-node/package.json'));

/** Where `scripts/build-hnswlib.ts` puts the SIMD builds: a cache inside node_modules, so `npm ci` starts it anew. */
export const SIMD_BUILD_DIR = join(packageDir, '..', '.cache', 'verbatim-hnswlib');
export const SIMD_RECORD_FILE = 'record.json';

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function readCpuFlags(): Set<string> | undefined {
  try {
    return parseCpuFlags(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/** hnswlib for a process: the build chosen, and the int8 graph made for that build when it loads. */
export interface LoadedHnswlib {
  lib: HnswlibModule;
  int8?: Int8GraphModule;
  choice: HnswlibChoice;
}

const loaded = new Map<HnswlibBuildMode, LoadedHnswlib>();

/**
 * hnswlib for this process (and thread), loaded once per mode. hnswlib-node compiles without `-march`, so its distance
 * functions use SSE only; the install also compiles the same source for x86-64-v3 (AVX2) and v4 (AVX-512), and this
 * picks the fastest one the CPU has the flags for. A build that fails to load falls back to the package's own.
 */
export function loadHnswlib(mode: HnswlibBuildMode = 'auto'): LoadedHnswlib {
  const cached = loaded.get(mode);
  if (cached) return cached;
  const installed = readJson<{ version: string }>(join(packageDir, 'package.json'));
  let choice = chooseHnswlibBuild({
    mode,
    platform: process.platform,
    arch: process.arch,
    cpuFlags: process.platform === 'linux' ? readCpuFlags() : undefined,
    record: readJson<SimdBuildRecord>(join(SIMD_BUILD_DIR, SIMD_RECORD_FILE)),
    recordDir: SIMD_BUILD_DIR,
    installedVersion: installed?.version ?? 'unknown',
    fileExists: existsSync,
  });
  let lib = portable;
  if (choice.file) {
    try {
      lib = require(choice.file) as HnswlibModule;
    } catch (err) {
      choice = {
        build: 'portable',
        reason: `${choice.build} build failed to load: ${(err as Error).message}`,
      };
    }
  }
  let int8: Int8GraphModule | undefined;
  if (choice.build !== 'portable' && choice.int8File) {
    try {
      int8 = require(choice.int8File) as Int8GraphModule;
    } catch {
      int8 = undefined;
    }
  }
  const result = { lib, choice, ...(int8 ? { int8 } : {}) };
  loaded.set(mode, result);
  return result;
}
