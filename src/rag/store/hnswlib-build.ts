import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SIMD_BUILD_DIR,
  SIMD_LEVELS,
  SIMD_RECORD_FILE,
  parseCpuFlags,
  type SimdBuild,
  type SimdBuildRecord,
  type SimdLevel,
} from './hnswlib.js';

const require = createRequire(import.meta.url);

interface BuildOptions {
  log: (line: string) => void;
  /** The environment of the install (npm sets `npm_config_node_gyp` and `npm_config_nodedir` for its scripts). */
  env: NodeJS.ProcessEnv;
  /** Where to build; defaults to the cache the store reads. */
  outDir?: string;
  levels?: readonly SimdLevel[];
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
    child.stdin.end(options.input ?? '');
  });
}

function nodeGypPath(env: NodeJS.ProcessEnv): string {
  return (
    env.npm_config_node_gyp ??
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    )
  );
}

/** Node's headers from the installed Node when npm does not say where they are: node-gyp must not download them. */
function nodeDirArgs(env: NodeJS.ProcessEnv): string[] {
  if (env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? [`--nodedir=${prefix}`] : [];
}

/**
 * Runs in a child process, so that an illegal instruction kills the child and not the install: the SIMD build's exact
 * search must return the same neighbours as the package's own build, at distances equal to 1e-4.
 */
const SMOKE_TEST = `
const [portablePath, simdPath] = process.argv.slice(-2);
const portable = require(portablePath);
const simd = require(simdPath);
let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
const dims = 64, points = 500;
const vectors = Array.from({ length: points }, () => Array.from({ length: dims }, random));
const indexes = [portable, simd].map((lib) => {
  const index = new lib.BruteforceSearch('cosine', dims);
  index.initIndex(points);
  vectors.forEach((v, i) => index.addPoint(v, i));
  const graph = new lib.HierarchicalNSW('cosine', dims);
  graph.initIndex({ maxElements: points, m: 8, efConstruction: 50, randomSeed: 1 });
  vectors.forEach((v, i) => graph.addPoint(v, i));
  return { index, graph };
});
for (let q = 0; q < 20; q += 1) {
  const query = vectors[q * 7];
  const [a, b] = indexes.map(({ index }) => index.searchKnn(query, 10));
  if (a.neighbors.join() !== b.neighbors.join()) throw new Error('neighbours differ');
  a.distances.forEach((d, i) => { if (Math.abs(d - b.distances[i]) > 1e-4) throw new Error('distances differ'); });
  if (indexes[1].graph.searchKnn(query, 1).neighbors[0] !== q * 7) throw new Error('graph search lost a point');
}
`;

/**
 * Our addon's sources, compiled beside hnswlib-node's for each level: the int8 graph and scan (`native/int8-graph.cc`)
 * and BM25 scoring (`native/bm25.cc`).
 */
const NATIVE_SOURCES = ['int8-graph.cc', 'bm25.cc', 'bm25.h'];
const NATIVE_DIR = fileURLToPath(new URL('./native/', import.meta.url));

/** A node-gyp project for the int8 graph: hnswlib's headers come from hnswlib-node's source. */
const int8BindingGyp = (hnswlibSource: string) =>
  JSON.stringify({
    targets: [
      {
        target_name: 'int8_graph',
        sources: NATIVE_SOURCES.filter((file) => file.endsWith('.cc')),
        include_dirs: [`<!(node -p "require('node-addon-api').include_dir")`, hnswlibSource],
        defines: ['NAPI_DISABLE_CPP_EXCEPTIONS'],
        'cflags!': ['-fno-exceptions'],
        'cflags_cc!': ['-fno-exceptions'],
      },
    ],
  });

/**
 * Run in a child process like {@link SMOKE_TEST}: the int8 graph must find every point of a small set as its own
 * nearest neighbour, and answer the same after a save and a load; the scan, in one pass and in two, must find it
 * too; BM25 must rank two lists' slots by their summed scores; dotRows must compute a row's dot product; and
 * idleScheduling must be there (not called: the policy it sets is the thread's to keep).
 */
const INT8_SMOKE_TEST = `
const [addonPath, file] = process.argv.slice(-2);
const { Int8Graph, scanKnn, scanKnn4, bm25TopK, dotRows, idleScheduling } = require(addonPath);
if (typeof idleScheduling !== 'function') throw new Error('idleScheduling missing');
const rows = Float32Array.from({ length: 27 }, (_, i) => (i % 5) - 2);
const dots = Float64Array.of(-1, -1);
dotRows(rows, Int32Array.of(2, -1), rows.subarray(0, 9), dots);
let dot = 0;
for (let i = 0; i < 9; i += 1) dot += rows[18 + i] * rows[i];
if (dots[0] !== dot || dots[1] !== -1) throw new Error('dotRows miscomputed');
const bm25 = bm25TopK(
  [Int32Array.of(0, 2, 3), Int32Array.of(2)], [Uint16Array.of(1, 1, 2), Uint16Array.of(1)], Int32Array.of(3, 1),
  Float64Array.of(1, 1), new Float32Array(4).fill(1), new Uint8Array(4).fill(1), Int32Array.of(5, 6, 7, 8), 4, 2, 2);
if (bm25.labels.join() !== '7,8' || Math.abs(bm25.scores[0] - 1) > 1e-6) throw new Error('bm25 kernel misranked');
let seed = 11;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
const dims = 32, points = 400;
const codes = Int8Array.from({ length: dims * points }, () => Math.round(random() * 250));
const labels = Float64Array.from({ length: points }, (_, i) => i * 2);
const graph = new Int8Graph(dims);
graph.initIndex(points, 12, 100, 1);
graph.setEf(100);
graph.addPoints(codes, labels);
graph.writeIndex(file);
const loaded = new Int8Graph(dims);
loaded.readIndex(file, 0);
loaded.setEf(100);
for (let i = 0; i < points; i += 7) {
  const query = codes.subarray(i * dims, (i + 1) * dims);
  let best = -Infinity;
  for (let j = 0; j < points; j += 1) {
    let dot = 0;
    for (let x = 0; x < dims; x += 1) dot += codes[j * dims + x] * query[x];
    best = Math.max(best, dot);
  }
  for (const index of [graph, loaded]) {
    const found = index.searchKnn(query, 1, Infinity);
    if (found.distances[0] !== -best) throw new Error('int8 graph missed the nearest point');
  }
  const scanned = scanKnn(codes, labels, new Uint8Array(points), points, query, 1, Infinity);
  if (scanned.distances[0] !== -best) throw new Error('int8 scan missed the nearest point');
  const nibbles = new Uint8Array(points * dims / 2);
  const twoPass = scanKnn4(nibbles, codes, labels, new Uint8Array(points), points, query, query, points, 1, Infinity);
  if (twoPass.distances[0] !== -best) throw new Error('two-pass int8 scan missed the nearest point');
}
`;

/**
 * Compiles hnswlib-node's source once per x86-64 level with `-march=<level>` (node-gyp, as npm does for the package),
 * checks each build the CPU can run against the package's own, and records the builds that passed. Returns a summary.
 */
export async function buildSimdVariants(options: BuildOptions): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `hnswlib SIMD builds skipped: only made on linux-x64 (this is ${process.platform}-${process.arch})`;
  const outDir = options.outDir ?? SIMD_BUILD_DIR;
  const packageJson = require.resolve('hnswlib-node/package.json');
  const packageDir = dirname(packageJson);
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  const portableAddon = join(packageDir, 'build', 'Release', 'addon.node');
  const addonApi = dirname(dirname(require.resolve('node-addon-api/package.json', { paths: [packageDir] })));
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const cpuFlags = parseCpuFlags(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''));
  const levels = SIMD_LEVELS.filter((l) => !options.levels || options.levels.includes(l.level));

  const compile = (work: string, level: SimdLevel) =>
    run(process.execPath, [nodeGypPath(options.env), 'rebuild', ...nodeDirArgs(options.env)], {
      cwd: work,
      env: {
        ...options.env,
        CXXFLAGS: `${options.env.CXXFLAGS ?? ''} -march=${level}`.trim(),
        NODE_PATH: [addonApi, options.env.NODE_PATH].filter(Boolean).join(':'),
      },
    });
  /** The int8 graph for `level`, checked when this CPU runs it; undefined (reported) when it cannot be made. */
  const buildInt8 = async (level: SimdLevel, runsHere: boolean): Promise<string | undefined> => {
    const work = join(outDir, `build-${level}-int8`);
    const file = `${level}-int8.node`;
    await mkdir(work, { recursive: true });
    try {
      await writeFile(join(work, 'binding.gyp'), int8BindingGyp(join(packageDir, 'src')));
      for (const file of NATIVE_SOURCES) await cp(join(NATIVE_DIR, file), join(work, file));
      const compiled = await compile(work, level);
      if (compiled.code !== 0) {
        options.log(
          `${level}: int8 graph compile failed (${compiled.output.trim().split('\n').slice(-2).join(' | ')})`,
        );
        return undefined;
      }
      await cp(join(work, 'build', 'Release', 'int8_graph.node'), join(outDir, file));
      if (runsHere) {
        const smoke = await run(process.execPath, ['-', join(outDir, file), join(work, 'smoke.bin')], {
          input: INT8_SMOKE_TEST,
        });
        if (smoke.code !== 0) {
          options.log(
            `${level}: int8 graph built but failed its check (${smoke.signal ?? smoke.output.trim().split('\n')[0]})`,
          );
          await rm(join(outDir, file), { force: true });
          return undefined;
        }
      }
      return file;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  };

  const results = await Promise.all(
    levels.map(async ({ level, cpuFlags: needed }): Promise<SimdBuild | undefined> => {
      const work = join(outDir, `build-${level}`);
      await mkdir(work, { recursive: true });
      await cp(join(packageDir, 'binding.gyp'), join(work, 'binding.gyp'));
      await cp(join(packageDir, 'src'), join(work, 'src'), { recursive: true });
      const compiled = await compile(work, level);
      const file = `${level}.node`;
      try {
        if (compiled.code !== 0) {
          options.log(
            `${level}: compile failed (${compiled.output.trim().split('\n').slice(-2).join(' | ')})`,
          );
          return undefined;
        }
        await cp(join(work, 'build', 'Release', 'addon.node'), join(outDir, file));
      } finally {
        await rm(work, { recursive: true, force: true });
      }
      const runsHere = cpuFlags !== undefined && needed.every((f) => cpuFlags.has(f));
      if (runsHere) {
        const smoke = await run(process.execPath, ['-', portableAddon, join(outDir, file)], {
          input: SMOKE_TEST,
        });
        if (smoke.code !== 0) {
          options.log(
            `${level}: built but failed its check against the portable build (${smoke.signal ?? smoke.output.trim().split('\n')[0]})`,
          );
          await rm(join(outDir, file), { force: true });
          return undefined;
        }
      }
      const int8File = await buildInt8(level, runsHere);
      return int8File ? { level, file, int8File } : { level, file };
    }),
  );
  const builds = results.filter((b): b is SimdBuild => b !== undefined);
  const record: SimdBuildRecord = { hnswlibVersion: version, builds };
  await writeFile(join(outDir, SIMD_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
  const usable = SIMD_LEVELS.find(
    (l) => builds.some((b) => b.level === l.level) && cpuFlags && l.cpuFlags.every((f) => cpuFlags.has(f)),
  );
  return builds.length === 0
    ? 'no hnswlib SIMD build could be made; the portable build will be used'
    : `hnswlib ${version} compiled for ${builds.map((b) => `${b.level}${b.int8File ? ' (with int8 graphs)' : ''}`).join(', ')}; this CPU will use ${usable?.level ?? 'the portable build'}`;
}
