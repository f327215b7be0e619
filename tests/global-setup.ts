import { execFileSync } from 'node:child_process';

/** Compiles dist/ once before the suite, as every npm script does first: some tests run those scripts' commands. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
