import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCorpus, MAX_DOCUMENT_BYTES, type ParseCache } from '../../../src/rag/corpus/index.js';
import { createLogger, createSilentLogger, type Logger } from '../../../src/logger.js';

const MIXED = fileURLToPath(new URL('../../fixtures/corpus-mixed', import.meta.url));

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}

describe('loadCorpus on a mixed directory', () => {
  it('loads the supported documents in sorted path order, nested folders included', async () => {
    const { documents } = await loadCorpus(MIXED, { logger: createSilentLogger() });
    expect(documents.map((d) => [d.path, d.id])).toEqual([
      ['archives/2024/older-piece.md', 'older-piece'],
      ['azure-article.md', 'azure-article'],
      ['dépêche-afp.txt', 'depeche-afp'],
      ['reuters-page.html', 'reuters-page'],
    ]);
  });

  it('reads metadata and text from each format', async () => {
    const { documents } = await loadCorpus(MIXED, { logger: createSilentLogger() });
    const byId = new Map(documents.map((d) => [d.id, d]));
    expect(byId.get('azure-article')).toMatchObject({
      title: 'Microsoft coupe l’accès : ce que l’on sait',
      source: 'Le Quotidien',
      url: 'https://example.org/azure',
      date: '2025-09-26',
      language: 'fr',
    });
    expect(byId.get('azure-article')?.text).toContain(
      'Selon lui, « l’entreprise ne fournit pas de technologies pour la surveillance massive des civils ».',
    );
    expect(byId.get('depeche-afp')?.title).toBe(
      'Gaza : Microsoft restreint l’usage d’Azure par l’armée israélienne',
    );
    expect(byId.get('reuters-page')).toMatchObject({
      title: 'Microsoft cuts off Israeli military unit from cloud services',
      source: 'Example Wire',
      language: 'en',
      url: 'https://wire.example.com/tech/microsoft-israel',
    });
    expect(byId.get('reuters-page')?.text).not.toMatch(/should not appear|Sponsored|Home/);
    expect(byId.get('older-piece')?.title).toBe('Cloud contracts under scrutiny');
  });

  it('reports each bad file with a reason and still loads the others', async () => {
    const { failures } = await loadCorpus(MIXED, { logger: createSilentLogger() });
    expect(failures).toEqual([
      {
        file: 'broken-front-matter.md',
        reason: expect.stringMatching(/^front matter does not parse: /) as unknown as string,
      },
      { file: 'duplicate.md', reason: 'duplicate id azure-article (already used by azure-article.md)' },
      { file: 'empty.md', reason: 'empty after extraction' },
      {
        file: 'scan.pdf',
        reason: 'unsupported file type .pdf (supported: .md, .markdown, .txt, .html, .htm)',
      },
    ]);
  });

  it('ignores dotfiles, dot-directories such as .trash, and editor backups', async () => {
    const { documents, failures } = await loadCorpus(MIXED, { logger: createSilentLogger() });
    const seen = [...documents.map((d) => d.path), ...failures.map((f) => f.file)];
    expect(seen.some((p) => p.includes('hidden') || p.includes('.trash') || p.endsWith('~'))).toBe(false);
  });

  it('logs one warning per failure with the file and the reason', async () => {
    const { logger, lines } = capturingLogger();
    const { failures } = await loadCorpus(MIXED, { logger });
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings.map((w) => [w.file, w.reason])).toEqual(failures.map((f) => [f.file, f.reason]));
    expect(lines.find((l) => l.msg === 'corpus loaded')).toMatchObject({ documents: 4, failures: 4 });
  });
});

describe('loadCorpus edge cases', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'verbatim-corpus-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns one failure instead of throwing when the directory does not exist', async () => {
    const { logger, lines } = capturingLogger();
    const missing = path.join(dir, 'nope');
    await expect(loadCorpus(missing, { logger })).resolves.toEqual({
      documents: [],
      failures: [{ file: '.', reason: `corpus directory not found: ${missing}` }],
    });
    expect(lines.some((l) => l.level === 40)).toBe(true);
  });

  it('keeps in its parse cache the files still there, nested ones included, and forgets deleted ones', async () => {
    await mkdir(path.join(dir, 'é'), { recursive: true });
    const names = ['b.md', 'a.md', 'é/c.md', 'é/d.txt', 'z.md'];
    for (const name of names) await writeFile(path.join(dir, name), `# ${name}\n\nTexte de ${name}.`);
    const cache: ParseCache = new Map();
    await loadCorpus(dir, { logger: createSilentLogger(), cache });
    expect([...cache.keys()].sort()).toEqual([...names].sort());
    await rm(path.join(dir, 'a.md'));
    await rm(path.join(dir, 'é/d.txt'));
    const { documents } = await loadCorpus(dir, { logger: createSilentLogger(), cache });
    expect(documents.map((d) => d.path)).toEqual(['b.md', 'z.md', 'é/c.md']);
    expect([...cache.keys()].sort()).toEqual(['b.md', 'z.md', 'é/c.md']);
  });

  it('returns one failure when the path is a file', async () => {
    const file = path.join(dir, 'a.md');
    await writeFile(file, 'Texte.');
    expect((await loadCorpus(file, { logger: createSilentLogger() })).failures).toEqual([
      { file: '.', reason: `not a directory: ${file}` },
    ]);
  });

  it('reads every file whole and alone, whatever the sizes of the files read before it', async () => {
    // Files are read into reused buffers: a short file read after a long one must not keep the long one's tail,
    // and a file larger than a buffer is read whole.
    const sizes = [300_000, 40_000, 12, 120_000, 3, 70_000, 1_000, 262_144, 5];
    const texts = sizes.map((size, i) => {
      const sentence = `Phrase ${i} de l’article. `;
      return `Article ${i}\n${sentence
        .repeat(Math.ceil(size / sentence.length))
        .slice(0, size)
        .trim()}`;
    });
    for (const [i, text] of texts.entries()) await writeFile(path.join(dir, `f${i}.txt`), text);
    for (const concurrency of [1, 3]) {
      const { documents, failures } = await loadCorpus(dir, { logger: createSilentLogger(), concurrency });
      expect(failures).toEqual([]);
      expect(documents.map((d) => d.path)).toEqual(texts.map((_, i) => `f${i}.txt`));
      documents.forEach((doc, i) => {
        const body = (texts[i] as string).split('\n')[1] as string;
        expect(doc.text.endsWith(body.slice(-40))).toBe(true);
        expect(doc.text.length).toBeGreaterThanOrEqual(body.length);
        expect(doc.text.length).toBeLessThanOrEqual((texts[i] as string).length + 2);
      });
    }
  });

  it('returns no documents and no failures for an empty directory', async () => {
    expect(await loadCorpus(dir, { logger: createSilentLogger() })).toEqual({ documents: [], failures: [] });
  });

  it('reports invalid UTF-8, binary, dangling and oversized files and loads the valid one', async () => {
    await writeFile(path.join(dir, 'good.txt'), 'Un titre\nUne phrase.');
    await writeFile(path.join(dir, 'latin1.txt'), Buffer.from('Le ministère de la Défense', 'latin1'));
    await writeFile(
      path.join(dir, 'image.md'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00]),
    );
    await symlink(path.join(dir, 'missing-target.md'), path.join(dir, 'dangling.md'));
    await writeFile(path.join(dir, 'huge.txt'), '');
    await truncate(path.join(dir, 'huge.txt'), MAX_DOCUMENT_BYTES + 1);
    const { documents, failures } = await loadCorpus(dir, { logger: createSilentLogger() });
    expect(documents.map((d) => d.id)).toEqual(['good']);
    expect(failures).toEqual([
      { file: 'dangling.md', reason: 'cannot read file (ENOENT)' },
      {
        file: 'huge.txt',
        reason: `too large (${MAX_DOCUMENT_BYTES + 1} bytes, limit ${MAX_DOCUMENT_BYTES})`,
      },
      { file: 'image.md', reason: 'binary content' },
      { file: 'latin1.txt', reason: 'not valid UTF-8' },
    ]);
  });

  it('does not follow a symbolic link to a directory', async () => {
    await mkdir(path.join(dir, 'real'));
    await writeFile(path.join(dir, 'real', 'a.md'), 'Texte.');
    await symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    const { documents, failures } = await loadCorpus(dir, { logger: createSilentLogger() });
    expect(documents.map((d) => d.path)).toEqual(['real/a.md']);
    expect(failures).toEqual([]);
  });

  it('reports a file with no extension as unsupported', async () => {
    await writeFile(path.join(dir, 'LICENSE'), 'MIT');
    expect((await loadCorpus(dir, { logger: createSilentLogger() })).failures).toEqual([
      {
        file: 'LICENSE',
        reason: 'unsupported file type (no extension) (supported: .md, .markdown, .txt, .html, .htm)',
      },
    ]);
  });

  it('gives the same documents and hashes on every load', async () => {
    const first = await loadCorpus(MIXED, { logger: createSilentLogger() });
    const second = await loadCorpus(MIXED, { logger: createSilentLogger() });
    expect(second).toEqual(first);
  });
});
