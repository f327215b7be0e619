import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import portable from 'hnswlib-node';

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

/** What `scripts/build-hnswlib.ts` writes next to the builds it made at install time. */
export interface SimdBuildRecord {
  /** The hnswlib-node version whose source was compiled: a build of another version is never loaded. */
  hnswlibVersion: string;
  builds: { level: SimdLevel; file: string }[];
}

/** The build chosen, and why in one line (for the start-up log and the benchmark's report). */
export interface HnswlibChoice {
  build: SimdLevel | 'portable';
  /** Absolute path of the addon for a SIMD build. */
  file?: string;
  reason: string;
}

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
    return { build: level, file, reason: `this CPU runs ${level}` };
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

const loaded = new Map<HnswlibBuildMode, { lib: HnswlibModule; choice: HnswlibChoice }>();

/**
 * hnswlib for this process (and thread), loaded once per mode. hnswlib-node compiles without `-march`, so its distance
 * functions use SSE only; the install also compiles the same source for x86-64-v3 (AVX2) and v4 (AVX-512), and this
 * picks the fastest one the CPU has the flags for. A build that fails to load falls back to the package's own.
 */
export function loadHnswlib(mode: HnswlibBuildMode = 'auto'): { lib: HnswlibModule; choice: HnswlibChoice } {
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
  const result = { lib, choice };
  loaded.set(mode, result);
  return result;
}
