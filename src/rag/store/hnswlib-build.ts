import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  SIMD_BUILD_DIR,
  SIMD_LEVELS,
  SIMD_RECORD_FILE,
  parseCpuFlags,
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

  const results = await Promise.all(
    levels.map(
      async ({ level, cpuFlags: needed }): Promise<{ level: SimdLevel; file: string } | undefined> => {
        const work = join(outDir, `build-${level}`);
        await mkdir(work, { recursive: true });
        await cp(join(packageDir, 'binding.gyp'), join(work, 'binding.gyp'));
        await cp(join(packageDir, 'src'), join(work, 'src'), { recursive: true });
        const compiled = await run(
          process.execPath,
          [nodeGypPath(options.env), 'rebuild', ...nodeDirArgs(options.env)],
          {
            cwd: work,
            env: {
              ...options.env,
              CXXFLAGS: `${options.env.CXXFLAGS ?? ''} -march=${level}`.trim(),
              NODE_PATH: [addonApi, options.env.NODE_PATH].filter(Boolean).join(':'),
            },
          },
        );
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
        if (cpuFlags && needed.every((f) => cpuFlags.has(f))) {
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
        return { level, file };
      },
    ),
  );
  const builds = results.filter((b): b is { level: SimdLevel; file: string } => b !== undefined);
  const record: SimdBuildRecord = { hnswlibVersion: version, builds };
  await writeFile(join(outDir, SIMD_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
  const usable = SIMD_LEVELS.find(
    (l) => builds.some((b) => b.level === l.level) && cpuFlags && l.cpuFlags.every((f) => cpuFlags.has(f)),
  );
  return builds.length === 0
    ? 'no hnswlib SIMD build could be made; the portable build will be used'
    : `hnswlib ${version} compiled for ${builds.map((b) => b.level).join(', ')}; this CPU will use ${usable?.level ?? 'the portable build'}`;
}
