import { readFileSync } from 'node:fs';

/**
 * The Node.js arguments of an npm script, read from package.json: each runs `node scripts/build.mjs && node <args>`,
 * and the suite's global setup has built dist/ already.
 */
export function npmScriptNodeArgs(name: string): string[] {
  const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  const [build, run] = (scripts[name] ?? '').split(' && ');
  const words = run?.split(' ') ?? [];
  if (build !== 'node scripts/build.mjs' || words[0] !== 'node')
    throw new Error(`npm script ${name} is not "node scripts/build.mjs && node …": ${scripts[name]}`);
  return words.slice(1);
}
