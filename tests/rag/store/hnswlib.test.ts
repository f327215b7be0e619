import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  chooseHnswlibBuild,
  loadHnswlib,
  parseCpuFlags,
  SIMD_BUILD_DIR,
  SIMD_LEVELS,
  SIMD_RECORD_FILE,
  type HnswlibChoiceInput,
  type HnswlibModule,
  type SimdBuildRecord,
} from '../../../src/rag/store/hnswlib.js';
import { buildSimdVariants } from '../../../src/rag/store/hnswlib-build.js';

const v4Flags = new Set(SIMD_LEVELS[0]!.cpuFlags);
const v3Flags = new Set(SIMD_LEVELS[1]!.cpuFlags);
const bothBuilt: SimdBuildRecord = {
  hnswlibVersion: '3.0.0',
  builds: [
    { level: 'x86-64-v4', file: 'x86-64-v4.node' },
    { level: 'x86-64-v3', file: 'x86-64-v3.node' },
  ],
};
const input = (over: Partial<HnswlibChoiceInput> = {}): HnswlibChoiceInput => ({
  mode: 'auto',
  platform: 'linux',
  arch: 'x64',
  cpuFlags: v4Flags,
  record: bothBuilt,
  recordDir: '/builds',
  installedVersion: '3.0.0',
  fileExists: () => true,
  ...over,
});

describe('chooseHnswlibBuild', () => {
  it('picks the fastest level whose every flag the CPU shows', () => {
    expect(chooseHnswlibBuild(input())).toMatchObject({ build: 'x86-64-v4', file: '/builds/x86-64-v4.node' });
    const noAvx512bw = new Set([...v4Flags].filter((f) => f !== 'avx512bw'));
    expect(chooseHnswlibBuild(input({ cpuFlags: noAvx512bw })).build).toBe('x86-64-v3');
    expect(chooseHnswlibBuild(input({ cpuFlags: v3Flags })).build).toBe('x86-64-v3');
  });

  it('never picks a build the CPU cannot run', () => {
    const onlyV4: SimdBuildRecord = { ...bothBuilt, builds: [bothBuilt.builds[0]!] };
    const choice = chooseHnswlibBuild(input({ record: onlyV4, cpuFlags: v3Flags }));
    expect(choice.build).toBe('portable');
    expect(choice.file).toBeUndefined();
    const sse = new Set(['sse4_2', 'popcnt']);
    expect(chooseHnswlibBuild(input({ cpuFlags: sse })).build).toBe('portable');
    expect(chooseHnswlibBuild(input({ cpuFlags: undefined })).reason).toMatch(/unreadable/);
  });

  it("names the chosen level's int8 graph addon only when it was recorded and is there", () => {
    const withInt8: SimdBuildRecord = {
      ...bothBuilt,
      builds: bothBuilt.builds.map((b) => ({ ...b, int8File: `${b.level}-int8.node` })),
    };
    expect(chooseHnswlibBuild(input({ record: withInt8, cpuFlags: v3Flags }))).toMatchObject({
      build: 'x86-64-v3',
      int8File: '/builds/x86-64-v3-int8.node',
    });
    expect(chooseHnswlibBuild(input()).int8File).toBeUndefined();
    const int8Missing = chooseHnswlibBuild(
      input({ record: withInt8, fileExists: (p) => !p.endsWith('-int8.node') }),
    );
    expect(int8Missing).toMatchObject({ build: 'x86-64-v4', file: '/builds/x86-64-v4.node' });
    expect(int8Missing.int8File).toBeUndefined();
  });

  it('falls back to the package build when asked, off linux-x64, or when the builds are stale or missing', () => {
    expect(chooseHnswlibBuild(input({ mode: 'portable' })).reason).toBe('HNSW_SIMD=off');
    expect(chooseHnswlibBuild(input({ arch: 'arm64' })).build).toBe('portable');
    expect(chooseHnswlibBuild(input({ platform: 'darwin' })).build).toBe('portable');
    expect(chooseHnswlibBuild(input({ record: undefined })).reason).toMatch(/no SIMD build/);
    expect(chooseHnswlibBuild(input({ installedVersion: '3.1.0' })).reason).toMatch(/3\.0\.0.*3\.1\.0/);
    const v4Missing = chooseHnswlibBuild(input({ fileExists: (p) => !p.endsWith('x86-64-v4.node') }));
    expect(v4Missing.build).toBe('x86-64-v3');
  });

  it('reads the flags line of /proc/cpuinfo', () => {
    const flags = parseCpuFlags(
      'processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu sse4_2 avx2  fma\nbugs\t: none\n',
    );
    expect(flags && [...flags]).toEqual(['fpu', 'sse4_2', 'avx2', 'fma']);
    expect(parseCpuFlags('processor : 0\n')).toBeUndefined();
  });
});

function neighbours(lib: HnswlibModule, vectors: number[][], queries: number[][]) {
  const index = new lib.BruteforceSearch('cosine', vectors[0]!.length);
  index.initIndex(vectors.length);
  vectors.forEach((v, i) => index.addPoint(v, i));
  return queries.map((q) => index.searchKnn(q, 5));
}

function randomVectors(count: number, dims: number, seed: number): number[][] {
  let s = seed;
  const next = () => (s = (s * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648 - 0.5;
  return Array.from({ length: count }, () => Array.from({ length: dims }, next));
}

const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64';
const record = (() => {
  try {
    return JSON.parse(readFileSync(join(SIMD_BUILD_DIR, SIMD_RECORD_FILE), 'utf8')) as SimdBuildRecord;
  } catch {
    return undefined;
  }
})();

describe('loadHnswlib', () => {
  it('loads the SIMD build made at install when this CPU runs it, and it finds what the package build finds', () => {
    const auto = loadHnswlib('auto');
    const portable = loadHnswlib('portable');
    expect(portable.choice.build).toBe('portable');
    const cpu = onLinuxX64 ? parseCpuFlags(readFileSync('/proc/cpuinfo', 'utf8')) : undefined;
    const runnable = SIMD_LEVELS.find(
      (l) => record?.builds.some((b) => b.level === l.level) && l.cpuFlags.every((f) => cpu?.has(f)),
    );
    // npm ci runs scripts/build-hnswlib.ts: on a CPU with AVX2 the store must not be left on the SSE build.
    expect(auto.choice.build).toBe(runnable?.level ?? 'portable');
    if (runnable) expect(auto.lib).not.toBe(portable.lib);

    const vectors = randomVectors(400, 48, 11);
    const queries = vectors.filter((_, i) => i % 40 === 0);
    const a = neighbours(auto.lib, vectors, queries);
    const b = neighbours(portable.lib, vectors, queries);
    expect(a.map((r) => r.neighbors)).toEqual(b.map((r) => r.neighbors));
    a.forEach((r, i) => r.distances.forEach((d, j) => expect(d).toBeCloseTo(b[i]!.distances[j]!, 4)));
  });
});

describe.runIf(onLinuxX64)('buildSimdVariants', () => {
  it('compiles hnswlib-node for a level, records it, and the build answers like the package build', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'verbatim-simd-'));
    try {
      const lines: string[] = [];
      const summary = await buildSimdVariants({
        env: process.env,
        outDir,
        levels: ['x86-64-v3'],
        log: (l) => lines.push(l),
      });
      expect(lines).toEqual([]);
      expect(summary).toMatch(/compiled for x86-64-v3 \(with int8 graphs\)/);
      const written = JSON.parse(await readFile(join(outDir, SIMD_RECORD_FILE), 'utf8')) as SimdBuildRecord;
      expect(written.builds).toEqual([
        { level: 'x86-64-v3', file: 'x86-64-v3.node', int8File: 'x86-64-v3-int8.node' },
      ]);
      expect(existsSync(join(outDir, 'build-x86-64-v3'))).toBe(false);
      expect(existsSync(join(outDir, 'build-x86-64-v3-int8'))).toBe(false);
      const cpu = parseCpuFlags(readFileSync('/proc/cpuinfo', 'utf8'));
      if (SIMD_LEVELS[1]!.cpuFlags.every((f) => cpu?.has(f))) {
        const built = createRequire(import.meta.url)(join(outDir, 'x86-64-v3.node')) as HnswlibModule;
        const vectors = randomVectors(200, 32, 5);
        const queries = vectors.slice(0, 5);
        expect(neighbours(built, vectors, queries).map((r) => r.neighbors)).toEqual(
          neighbours(loadHnswlib('portable').lib, vectors, queries).map((r) => r.neighbors),
        );
      }
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }, 120_000);
});
