import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAsk } from '../../src/cli/ask.js';
import { runChat } from '../../src/cli/chat.js';
import { runIngest } from '../../src/cli/ingest.js';
import type { CliOutput } from '../../src/cli/io.js';
import { withApp } from '../../src/cli/runtime.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { npmScriptNodeArgs } from '../helpers/npm-script.js';

const SEED = 'corpus/microsoft-azure-israel-defense.md';

function captureOutput(): CliOutput & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe('command line', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let env: Record<string, string>;

  beforeEach(async () => {
    root = await temporaryDirectory();
    await mkdir(join(root.path, 'corpus'));
    await copyFile(SEED, join(root.path, 'corpus', 'seed.md'));
    env = { CORPUS_DIR: join(root.path, 'corpus'), DATA_DIR: join(root.path, 'data'), LOG_LEVEL: 'silent' };
  });
  afterEach(() => root.cleanup());

  it('ask builds the index on first use and prints the framing, numbered quotes and sources', async () => {
    const io = captureOutput();
    const code = await withApp(env, io, ({ service }) => runAsk(service, 'Qui est Brad Smith ?', {}, io));
    expect(code).toBe(0);
    expect(io.stderr.join('\n')).toContain('1 added');
    const out = io.stdout.join('\n');
    expect(out).toMatch(/^Voici/);
    expect(out).toMatch(/^ {2}> .*Brad Smith/m);
    expect(out).toMatch(/\[1\]$/m);
    expect(out).toContain('Sources:\n  [1] Pratiquement une rupture totale');
  });

  it('ask --json prints the structured answer', async () => {
    const io = captureOutput();
    await withApp(env, io, ({ service }) => runAsk(service, 'Who is Brad Smith?', { json: true }, io));
    const parsed = JSON.parse(io.stdout.join('\n'));
    expect(parsed).toMatchObject({ kind: 'answer', language: 'en', answerer: 'extractive' });
    expect(parsed.quotes[0].text).toContain('Brad Smith');
  });

  it('ask exits non-zero with a clear message on an empty corpus or an invalid question', async () => {
    const io = captureOutput();
    const empty = { ...env, CORPUS_DIR: join(root.path, 'nothing-here') };
    expect(await withApp(empty, io, ({ service }) => runAsk(service, 'Qui ?', {}, io))).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/No document to index in .*nothing-here/);
    const io2 = captureOutput();
    expect(
      await withApp({ ...env, MAX_QUESTION_LENGTH: '20' }, io2, ({ service }) =>
        runAsk(service, 'x'.repeat(30), {}, io2),
      ),
    ).toBe(2);
    expect(io2.stdout.join('\n')).toMatch(/20 (caractères|characters)/);
  });

  it('reports every invalid configuration key at once and exits 78', async () => {
    const io = captureOutput();
    const code = await withApp(
      { ...env, HNSW_EF_SEARCH: '5', EMBEDDINGS_PROVIDER: 'nope' },
      io,
      async () => 0,
    );
    expect(code).toBe(78);
    expect(io.stderr.join('\n')).toMatch(
      /HNSW_EF_SEARCH[\s\S]*EMBEDDINGS_PROVIDER|EMBEDDINGS_PROVIDER[\s\S]*HNSW_EF_SEARCH/,
    );
  });

  it('ingest prints what changed, then nothing to do on a second run', async () => {
    const phases: string[] = [];
    const progress = {
      update: (p: { phase: string }) => phases.push(p.phase),
      stop: () => phases.push('stop'),
    };
    const first = captureOutput();
    expect(await withApp(env, first, ({ service }) => runIngest(service, progress, first))).toBe(0);
    expect(first.stdout.join('\n')).toMatch(/1 added, 0 changed, 0 removed, 0 unchanged/);
    expect(phases).toContain('embedding');
    expect(phases.at(-1)).toBe('stop');
    const second = captureOutput();
    await withApp(env, second, ({ service }) => runIngest(service, progress, second));
    expect(second.stdout.join('\n')).toMatch(
      /0 added, 0 changed, 0 removed, 1 unchanged[\s\S]*0 embedded now/,
    );
  });

  it('chat answers each line, reads a follow-up with the previous question, and stops on /quit', async () => {
    const input = new PassThrough();
    const rl = createInterface({ input, terminal: false });
    const lines = rl[Symbol.asyncIterator]();
    const io = captureOutput();
    const done = withApp(env, io, ({ service }) =>
      runChat(service, { [Symbol.asyncIterator]: () => lines }, io),
    );
    input.write('Que font les militaires israéliens avec leurs données ?\n');
    input.write('et Amazon ?\n');
    input.write('/quit\n');
    expect(await done).toBe(0);
    const answers = io.stdout.slice(1);
    expect(answers).toHaveLength(2);
    expect(answers[1]).toContain('Amazon');
    expect(answers[1]).toMatch(/^Voici/);
  });
});

describe('npm run ask (the real script, in a child process)', () => {
  it('answers from the terminal with no network and no configuration', async () => {
    const dir = await temporaryDirectory();
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [...npmScriptNodeArgs('ask'), 'Où les militaires israéliens transfèrent-ils leurs données ?'],
        {
          env: { ...process.env, DATA_DIR: dir.path, CORPUS_DIR: 'corpus' },
        },
      );
      const article = await readFile(SEED, 'utf8');
      const quotes = stdout
        .split('\n\n')
        .filter((block) => block.startsWith('  > '))
        .map((block) =>
          block
            .replace(/ \[\d+\]$/, '')
            .replace(/^ {2}> /gm, '')
            .replace(/\n/g, ' '),
        );
      expect(quotes.length).toBeGreaterThan(0);
      for (const q of quotes) expect(article.replace(/\s+/g, ' ')).toContain(q);
      expect(stdout).toContain('Amazon');
    } finally {
      await dir.cleanup();
    }
  });
});
