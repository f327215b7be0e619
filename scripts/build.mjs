// @ts-check
/**
 * Compiles src/ and scripts/ to JavaScript in dist/: esbuild, one output file per source file, no bundling and no type
 * check (`npm run typecheck` does that). Every command runs it first; it takes about 0.3 s. Under tsx each worker
 * thread loads its modules through a module-loader thread of its own, which cost about 5 CPU-seconds in a 100k-chunk
 * ingest on 2 cores (see the README's performance section).
 *
 * Only the files whose output changed are replaced, each by a rename, so a bot already running from dist/ never
 * starts a worker on a half-written module while another command builds.
 */
import { build } from 'esbuild';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/**/*.ts', 'scripts/*.ts'],
  outdir: 'dist',
  outbase: '.',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  write: false,
  logLevel: 'warning',
});
for (const file of result.outputFiles) {
  const current = await readFile(file.path).catch(() => undefined);
  if (current?.equals(file.contents)) continue;
  await mkdir(dirname(file.path), { recursive: true });
  const temporary = `${file.path}.${process.pid}.tmp`;
  await writeFile(temporary, file.contents);
  await rename(temporary, file.path);
}
