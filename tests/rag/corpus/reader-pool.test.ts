import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CorpusReaderPool,
  loadCorpus,
  type CorpusReader,
  type ParseCache,
} from '../../../src/rag/corpus/index.js';
import { createSilentLogger } from '../../../src/logger.js';
import { temporaryDirectory } from '../../helpers/documents.js';
import { createRecordingLogger } from '../../helpers/logger.js';

const MIXED = fileURLToPath(new URL('../../fixtures/corpus-mixed', import.meta.url));

describe('reading the corpus in reader threads', () => {
  const pool = new CorpusReaderPool(2, 1);
  /** The pool, counting the files it is asked to read. */
  const counting = () => {
    const seen = { files: 0 };
    const reader: CorpusReader = {
      minFiles: 3,
      read: (dir, files, options) => {
        seen.files += files.length;
        return pool.read(dir, files, options);
      },
      close: () => pool.close(),
    };
    return { reader, seen };
  };
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await temporaryDirectory();
  });
  afterEach(async () => {
    await dir.cleanup();
  });
  afterAll(async () => {
    await pool.close();
  });

  it('loads the same documents and reports the same failures as the event loop', async () => {
    const { reader, seen } = counting();
    const here = await loadCorpus(MIXED, { logger: createSilentLogger() });
    const there = await loadCorpus(MIXED, { logger: createSilentLogger(), reader });
    expect(seen.files).toBeGreaterThan(5);
    expect(there.documents).toEqual(here.documents);
    expect(there.failures).toEqual(here.failures);
    expect(there.failures.length).toBeGreaterThan(0);
  });

  it('loads a corpus of two million characters (texts moved out of the heap) as the event loop does', async () => {
    const paragraph = (n: number) =>
      `Microsoft a suspendu l’accès du ministère à « Azure » (dossier ${n}). L’enquête interne l’a établi.\n\n`;
    for (let f = 0; f < 240; f += 1)
      await writeFile(
        path.join(dir.path, `article-${f}.md`),
        `# Article ${f}\n\n${Array.from({ length: 100 }, (_, p) => paragraph(f * 100 + p)).join('')}`,
      );
    const { reader, seen } = counting();
    const here = await loadCorpus(dir.path, { logger: createSilentLogger() });
    const there = await loadCorpus(dir.path, { logger: createSilentLogger(), reader });
    expect(seen.files).toBe(240);
    expect(here.documents.reduce((sum, d) => sum + d.text.length, 0)).toBeGreaterThan(2 << 20);
    expect(there.documents).toEqual(here.documents);
  });

  it('reuses the cached result of a file whose size and time are unchanged, and reads a changed one again', async () => {
    const { reader } = counting();
    for (const name of ['a', 'b', 'c', 'd'])
      await writeFile(
        path.join(dir.path, `${name}.md`),
        `# Titre ${name}\n\nLe texte de l’article ${name}.\n`,
      );
    const cache: ParseCache = new Map();
    const first = await loadCorpus(dir.path, { logger: createSilentLogger(), cache, reader });
    expect(first.documents.map((d) => d.id)).toEqual(['a', 'b', 'c', 'd']);
    await writeFile(
      path.join(dir.path, 'c.md'),
      '# Titre c\n\nUn texte tout à fait différent, et plus long.\n',
    );
    const second = await loadCorpus(dir.path, { logger: createSilentLogger(), cache, reader });
    const byId = (docs: typeof first.documents) => new Map(docs.map((d) => [d.id, d]));
    const [before, after] = [byId(first.documents), byId(second.documents)];
    for (const id of ['a', 'b', 'd']) expect(after.get(id)).toBe(before.get(id));
    expect(after.get('c')?.text).toContain('tout à fait différent');
    expect(cache.get('c.md')?.result).toEqual({ document: after.get('c') });
  });

  it.each([
    ['on the event loop', false],
    ['in the reader threads', true],
  ])('loads a file that parses to its indexed content as the indexed document, %s', async (_, threads) => {
    const { reader } = counting();
    for (const name of ['a', 'b', 'c'])
      await writeFile(path.join(dir.path, `${name}.md`), `# Titre ${name}\n\nLe texte de ${name}.\n`);
    const parsed = await loadCorpus(dir.path, { logger: createSilentLogger() });
    // The index's copies are marked (a title no file has), to tell them from the files' parses; b's is outdated.
    const stored = parsed.documents.map((d) => ({
      ...d,
      title: `indexed ${d.id}`,
      ...(d.id === 'b' ? { contentHash: 'an older version' } : {}),
      sentences: [],
      indexedAt: '2026-01-01T00:00:00.000Z',
    }));
    const byPath = new Map(stored.map((d) => [d.path, d]));
    const cache: ParseCache = new Map();
    // A thread has answered once this returns: the files below are all read in the threads.
    if (threads) await pool.read(dir.path, ['absent.md']);
    const load = () =>
      loadCorpus(dir.path, {
        logger: createSilentLogger(),
        cache,
        indexed: (file) => byPath.get(file),
        ...(threads ? { reader } : {}),
      });
    const { documents } = await load();
    expect(documents.map((d) => d.title)).toEqual(['indexed a', 'Titre b', 'indexed c']);
    const { sentences: _s, indexedAt: _i, ...fields } = stored[0] as (typeof stored)[number];
    expect(documents[0]).toStrictEqual(fields);
    expect(documents[1]).toEqual(parsed.documents[1]);
    expect((await load()).documents).toEqual(documents);
  });

  it('reads on the event loop too while its threads start, and only in the threads once one has answered', async () => {
    const fresh = new CorpusReaderPool(2, 1);
    try {
      for (let i = 0; i < 300; i += 1)
        await writeFile(path.join(dir.path, `article-${i}.md`), `# Article ${i}\n\nLe texte numéro ${i}.\n`);
      const expected = await loadCorpus(dir.path, { logger: createSilentLogger() });
      const files = expected.documents.map((d) => d.path);
      const here = { calls: 0 };
      const readHere = async (file: string) => {
        here.calls += 1;
        const document = expected.documents.find((d) => d.path === file);
        return document ? { document } : { reason: 'unexpected file' };
      };
      const first = await fresh.read(dir.path, files, { readHere });
      expect(here.calls).toBeGreaterThan(0);
      expect(here.calls).toBeLessThan(files.length);
      expect(first).toEqual(expected.documents.map((document) => ({ document })));
      here.calls = 0;
      const second = await fresh.read(dir.path, files, { readHere });
      expect(here.calls).toBe(0);
      expect(second).toEqual(first);
    } finally {
      await fresh.close();
    }
  });

  it('reads a corpus smaller than the reader’s minimum on the event loop', async () => {
    const { reader, seen } = counting();
    await writeFile(path.join(dir.path, 'seul.md'), '# Seul\n\nUn seul article.\n');
    const { documents } = await loadCorpus(dir.path, { logger: createSilentLogger(), reader });
    expect(documents.map((d) => d.id)).toEqual(['seul']);
    expect(seen.files).toBe(0);
  });

  it('falls back to the event loop, with a warning, when the reader threads fail', async () => {
    const failing: CorpusReader = {
      minFiles: 1,
      read: () => Promise.reject(new Error('worker exited (code 1)')),
      close: async () => undefined,
    };
    const { logger, records } = createRecordingLogger();
    const { documents } = await loadCorpus(MIXED, { logger, reader: failing });
    expect(documents.map((d) => d.id)).toEqual(
      (await loadCorpus(MIXED, { logger: createSilentLogger() })).documents.map((d) => d.id),
    );
    expect(records.some((r) => String(r.msg).includes('reader threads failed'))).toBe(true);
  });
});
