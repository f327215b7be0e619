import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory()
        ? sourceFiles(join(dir, e.name))
        : Promise.resolve(e.name.endsWith('.ts') ? [join(dir, e.name)] : []),
    ),
  );
  return nested.flat();
}

const importsOf = (source: string) =>
  [...source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? '');

describe('architecture', () => {
  it('keeps src/rag free of discord.js, dotenv and the adapters', async () => {
    const files = await sourceFiles('src/rag');
    expect(files.length).toBeGreaterThan(10);
    const offending: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(await readFile(file, 'utf8'))) {
        if (/^(discord\.js|@discordjs\/|dotenv)/.test(spec) || /(^|\/)(bot|cli|main)(\/|\.js$)/.test(spec))
          offending.push(`${file} -> ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('reads process.env only in scripts/ and the configuration module', async () => {
    const files = (await sourceFiles('src')).filter((f) => !f.endsWith('config.ts'));
    const offending: string[] = [];
    for (const file of files) if (/process\.env/.test(await readFile(file, 'utf8'))) offending.push(file);
    expect(offending).toEqual([]);
  });
});
