import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadCorpus, type ParseCache } from '../../../src/rag/corpus/index.js';
import { createSilentLogger } from '../../../src/logger.js';

const reads = vi.hoisted(() => ({ files: [] as string[], inFlight: 0, maxInFlight: 0 }));

// Reads of files whose name contains `slow` complete last, so completion order differs from path order. A read is
// counted from the file's opening to its closing.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (async (file: Parameters<typeof actual.open>[0], ...rest: unknown[]) => {
      reads.files.push(path.basename(String(file)));
      reads.inFlight += 1;
      reads.maxInFlight = Math.max(reads.maxInFlight, reads.inFlight);
      try {
        if (path.basename(String(file)).includes('slow')) await new Promise((r) => setTimeout(r, 30));
        const handle = await (
          actual.open as (...args: unknown[]) => Promise<import('node:fs/promises').FileHandle>
        )(file, ...rest);
        const close = handle.close.bind(handle);
        handle.close = async () => {
          reads.inFlight -= 1;
          return close();
        };
        return handle;
      } catch (err) {
        reads.inFlight -= 1;
        throw err;
      }
    }) as typeof actual.open,
  };
});

const logger = createSilentLogger();

describe('loadCorpus reading several files at once', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'verbatim-corpus-'));
    Object.assign(reads, { files: [], inFlight: 0, maxInFlight: 0 });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeMixedCorpus(): Promise<void> {
    await writeFile(path.join(dir, 'a-slow.md'), '---\nid: shared\n---\n\nLe premier fichier garde l’id.');
    await writeFile(path.join(dir, 'b-slow-empty.md'), '---\ntitle: "Vide"\n---\n');
    await writeFile(path.join(dir, 'c.md'), '---\nid: shared\n---\n\nLe second est un doublon.');
    await writeFile(path.join(dir, 'd.pdf'), '%PDF-1.7');
    for (let i = 0; i < 12; i += 1) {
      const name = `e${String(i).padStart(2, '0')}${i % 3 === 0 ? '-slow' : ''}.txt`;
      await writeFile(path.join(dir, name), `Dépêche ${i}\nUne phrase.`);
    }
  }

  it('keeps path order, failure order and the first owner of a duplicated id when later files finish first', async () => {
    await writeMixedCorpus();
    const { documents, failures } = await loadCorpus(dir, { logger, concurrency: 8 });
    expect(documents.map((d) => d.path)).toEqual([
      'a-slow.md',
      'e00-slow.txt',
      'e01.txt',
      'e02.txt',
      'e03-slow.txt',
      'e04.txt',
      'e05.txt',
      'e06-slow.txt',
      'e07.txt',
      'e08.txt',
      'e09-slow.txt',
      'e10.txt',
      'e11.txt',
    ]);
    expect(failures).toEqual([
      { file: 'b-slow-empty.md', reason: 'empty after extraction' },
      { file: 'c.md', reason: 'duplicate id shared (already used by a-slow.md)' },
      {
        file: 'd.pdf',
        reason: 'unsupported file type .pdf (supported: .md, .markdown, .txt, .html, .htm)',
      },
    ]);
  });

  it('gives the same result one file at a time as several at once, with at most `concurrency` reads in flight', async () => {
    await writeMixedCorpus();
    const one = await loadCorpus(dir, { logger, concurrency: 1 });
    expect(reads.maxInFlight).toBe(1);
    reads.maxInFlight = 0;
    const several = await loadCorpus(dir, { logger, concurrency: 4 });
    expect(reads.maxInFlight).toBeGreaterThan(1);
    expect(reads.maxInFlight).toBeLessThanOrEqual(4);
    expect(several).toEqual(one);
  });
});

describe('loadCorpus with a parse cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'verbatim-corpus-'));
    Object.assign(reads, { files: [], inFlight: 0, maxInFlight: 0 });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads only the files whose size or modification time changed, and forgets deleted files', async () => {
    await writeFile(path.join(dir, 'a.txt'), 'Titre A\nTexte A.');
    await writeFile(path.join(dir, 'b.txt'), 'Titre B\nTexte B.');
    await writeFile(path.join(dir, 'c.txt'), 'Titre C\nTexte C.');
    const cache: ParseCache = new Map();
    const first = await loadCorpus(dir, { logger, cache });
    expect(reads.files.sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);

    reads.files = [];
    expect(await loadCorpus(dir, { logger, cache })).toEqual(first);
    expect(reads.files).toEqual([]);

    await writeFile(path.join(dir, 'b.txt'), 'Titre B\nTexte B, corrigé.');
    await utimes(path.join(dir, 'b.txt'), new Date(), new Date(Date.now() + 5000));
    await rm(path.join(dir, 'c.txt'));
    const third = await loadCorpus(dir, { logger, cache });
    expect(reads.files).toEqual(['b.txt']);
    expect(third.documents.map((d) => d.text)).toEqual([
      'Titre A\n\nTexte A.',
      'Titre B\n\nTexte B, corrigé.',
    ]);
    expect([...cache.keys()].sort()).toEqual(['a.txt', 'b.txt']);
  });

  it('keeps reporting a cached failure without reading the file again', async () => {
    await writeFile(path.join(dir, 'empty.md'), '---\ntitle: "Rien"\n---\n');
    const cache: ParseCache = new Map();
    const first = await loadCorpus(dir, { logger, cache });
    reads.files = [];
    expect(await loadCorpus(dir, { logger, cache })).toEqual(first);
    expect(first.failures).toEqual([{ file: 'empty.md', reason: 'empty after extraction' }]);
    expect(reads.files).toEqual([]);
  });
});
