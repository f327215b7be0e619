import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createSilentLogger } from '../../../src/logger.js';
import { createApp, type App } from '../../../src/main.js';
import { sniffUpload } from '../../../src/rag/corpus/index.js';
import { temporaryDirectory } from '../../helpers/documents.js';

const SEED = 'corpus/microsoft-azure-israel-defense.md';
const BODY = 'Une phrase ordinaire sur Azure et les données de l’armée.';

const utf16 = (text: string, bigEndian: boolean, bom: boolean): Buffer => {
  const le = Buffer.from(text, 'utf16le');
  const bytes = bigEndian ? Buffer.from(le).swap16() : le;
  return bom ? Buffer.concat([Buffer.from(bigEndian ? [0xfe, 0xff] : [0xff, 0xfe]), bytes]) : bytes;
};

describe('sniffUpload on hostile files', () => {
  it.each([
    ['a ZIP archive or .docx', [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00], /ZIP archive/],
    ['a gzip archive', [0x1f, 0x8b, 0x08, 0x00], /gzip/],
    ['a JPEG named .md', [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10], /JPEG/],
    ['a GIF', [...Buffer.from('GIF89a')], /GIF/],
  ])('refuses %s by its magic bytes', (_name, bytes, reason) => {
    const result = sniffUpload('article.md', Buffer.from(bytes));
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });

  it.each([
    ['UTF-16 LE with a BOM', utf16(BODY, false, true)],
    ['UTF-16 BE with a BOM', utf16(BODY, true, true)],
    ['UTF-16 LE without a BOM', utf16(BODY, false, false)],
    ['UTF-16 BE without a BOM', utf16(BODY, true, false)],
  ])('refuses %s, saying so, rather than calling it binary', (_name, bytes) => {
    expect(sniffUpload('article.txt', bytes)).toEqual({
      ok: false,
      reason: 'this is UTF-16 text: save it as UTF-8',
    });
  });

  it.each([
    ['Latin-1', Buffer.from('Le ministère de la Défense a été clair.', 'latin1')],
    [
      'Windows-1252 quotes',
      Buffer.from([0x93, 0x4f, 0x75, 0x69, 0x94, 0x2c, 0x20, 0x64, 0x69, 0x74, 0x2d, 0x69, 0x6c]),
    ],
    ['an overlong encoding of /', Buffer.from([0x61, 0xc0, 0xaf, 0x62])],
    ['an encoded surrogate', Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62])],
    ['a sequence cut at the end', Buffer.from([0x61, 0x62, 0xe2, 0x82])],
  ])('refuses %s as invalid UTF-8 with a hint', (_name, bytes) => {
    expect(sniffUpload('article.txt', bytes)).toEqual({
      ok: false,
      reason: 'not valid UTF-8 text (Latin-1 or Windows-1252?): save it as UTF-8',
    });
  });

  it('reads a file that starts with a script, a style or a paragraph tag as HTML, unless it says it is Markdown', () => {
    for (const start of [
      '<script>alert(1)</script><p>x</p>',
      '<style>p{}</style><p>x</p>',
      '  <p>x</p>',
      '<div>x</div>',
    ]) {
      for (const name of ['page.html', 'notes.txt', 'noextension'])
        expect(sniffUpload(name, Buffer.from(start)), `${name}: ${start}`).toEqual({
          ok: true,
          kind: '.html',
        });
      expect(sniffUpload('article.md', Buffer.from(start))).toEqual({ ok: true, kind: '.md' });
    }
  });

  it('refuses a name too long to make a document id, with a short reason', () => {
    expect(sniffUpload(`${'a'.repeat(300)}.md`, Buffer.from(BODY))).toEqual({
      ok: false,
      reason: 'the file name is too long: give the file a shorter name',
    });
    expect(sniffUpload(`${'œ'.repeat(100)}.md`, Buffer.from(BODY)).ok).toBe(false);
    expect(sniffUpload(`${'a'.repeat(120)}.md`, Buffer.from(BODY))).toEqual({ ok: true, kind: '.md' });
  });
});

describe('QaService.addDocument on hostile uploads', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let corpusDir: string;
  let app: App;

  beforeEach(async () => {
    root = await temporaryDirectory();
    corpusDir = join(root.path, 'corpus');
    await mkdir(corpusDir);
    await copyFile(SEED, join(corpusDir, 'seed.md'));
    app = await createApp(
      loadConfig({ CORPUS_DIR: corpusDir, DATA_DIR: join(root.path, 'data'), MAX_UPLOAD_BYTES: '4096' }),
      createSilentLogger(),
    );
    await app.service.refresh();
  });
  afterEach(async () => {
    await app.close();
    await root.cleanup();
  });

  /** The corpus as it is now: files with their bytes, and indexed documents with their texts. */
  const snapshot = async () => ({
    files: await Promise.all(
      (await readdir(corpusDir)).sort().map(async (f) => [f, await readFile(join(corpusDir, f), 'utf8')]),
    ),
    documents: app.service.listDocuments().map((d) => [d.id, d.path, app.service.getDocument(d.id)?.text]),
  });

  it('refuses oversized, binary and wrongly encoded files with a short reason, losing nothing', async () => {
    const before = await snapshot();
    const uploads: [string, Buffer][] = [
      ['big.md', Buffer.alloc(5000, 0x61)],
      ['photo.md', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])],
      ['report.docx', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00])],
      ['scan.md', Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj')],
      ['nul.txt', Buffer.from('Texte\u0000caché')],
      ['latin1.txt', Buffer.from('Le ministère de la Défense.', 'latin1')],
      ['utf16.txt', utf16(BODY, false, false)],
      ['utf16-bom.md', utf16(BODY, true, true)],
      ['invalid.md', Buffer.from([0x41, 0xc3, 0x28, 0x42])],
      ['empty.md', Buffer.from(' \n\t\n')],
      [`${'long-name-'.repeat(30)}.md`, Buffer.from(BODY)],
    ];
    for (const [fileName, content] of uploads) {
      const result = await app.service.addDocument({ fileName, content });
      expect(result, fileName).toEqual({ kind: 'invalid', reason: expect.any(String) });
      if (result.kind === 'invalid') {
        expect(result.reason.length, result.reason).toBeLessThanOrEqual(100);
        expect(result.reason).not.toMatch(/\n/);
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it('stores no script, style, event handler or javascript: link of an HTML or Markdown upload', async () => {
    const page =
      '<!doctype html><html><head><title>Page</title><style>.pwned-style{color:red}</style>' +
      '<script>var pwnedHead = 1</script></head><body onload="pwnedOnload()"><article>' +
      '<p>Bonjour <a href="javascript:pwnedLink()">le lien</a> <img src="x" onerror="pwnedError()"> à tous.</p>' +
      '<script>pwnedInline()</script><noscript>pwned-noscript</noscript><iframe srcdoc="pwned-srcdoc"></iframe>' +
      '<svg><script>pwnedSvg()</script></svg><template>pwned-template</template>' +
      '<p onclick="pwnedClick()">Deuxième paragraphe, assez long pour que Readability le garde.</p>' +
      '</article></body></html>';
    const uploads: [string, string][] = [
      ['page.html', page],
      ['page-named-txt.txt', page],
      ['starts-with-script.html', '<script>alert("pwned-first")</script><p>Un paragraphe visible.</p>'],
      [
        'starts-with-style.txt',
        '<style>body{background:url("javascript:pwned")}</style><p>Un paragraphe visible.</p>',
      ],
      [
        'markdown.md',
        '# Titre\n\n<script>pwnedMarkdown()</script>\n\nUn [lien](javascript:pwnedMdLink()) et <style>.pwned{}</style>' +
          ' du texte <img src=x onerror="pwnedMdImg()">.\n\n<iframe src="javascript:pwnedFrame()"></iframe>\n',
      ],
    ];
    const added: string[] = [];
    for (const [fileName, content] of uploads) {
      const result = await app.service.addDocument({ fileName, content: Buffer.from(content) });
      if (result.kind === 'invalid') {
        expect(result.reason, fileName).toBe('empty after extraction');
        continue;
      }
      added.push(fileName);
      const stored = app.service.getDocument(result.document.id);
      expect(stored?.text, fileName).toMatch(/\p{L}/u);
      expect(stored?.text, fileName).not.toMatch(/pwned|alert|javascript:|onerror|onclick|<script|<style/i);
    }
    expect(added).toEqual(['page.html', 'page-named-txt.txt', 'markdown.md']);
  });

  it('keeps every hostile file name inside the corpus folder under a clean name', async () => {
    const names = [
      '../../x.md',
      '..\\..\\x.md',
      'C:\\Windows\\System32\\x.md',
      '/etc/passwd',
      '/tmp/../../etc/cron.d/job.md',
      'x\u0000y.md',
      '\u202Edm.exe.md',
      '...',
      '.',
      '..',
      '',
      '.md',
      '.hidden.md',
      'CON.md',
      `${'a'.repeat(120)}.md`,
    ];
    const seedBefore = await readFile(join(corpusDir, 'seed.md'), 'utf8');
    for (const fileName of names) {
      const result = await app.service.addDocument({ fileName, content: Buffer.from(BODY) });
      expect(result.kind, JSON.stringify(fileName)).toBe('added');
      if (result.kind === 'added')
        expect(result.document.path).toMatch(/^[a-z0-9][a-z0-9-]*\.(md|txt|html)$/);
    }
    expect((await readdir(root.path)).sort()).toEqual(['corpus', 'data']);
    const files = await readdir(corpusDir);
    expect(files.every((f) => /^[a-z0-9][a-z0-9-]*\.(md|txt|html)$/.test(f))).toBe(true);
    expect(files).toHaveLength(names.length + 1);
    expect(await readFile(join(corpusDir, 'seed.md'), 'utf8')).toBe(seedBefore);
    expect(app.service.getDocument('microsoft-azure-israel-defense')?.path).toBe('seed.md');
  });

  it('does not overwrite the file of a document whose id differs from its file name', async () => {
    const seedBefore = await readFile(join(corpusDir, 'seed.md'), 'utf8');
    const added = await app.service.addDocument({ fileName: 'seed.md', content: Buffer.from(BODY) });
    expect(added.kind).toBe('added');
    expect(await readFile(join(corpusDir, 'seed.md'), 'utf8')).toBe(seedBefore);
    await app.service.refresh();
    expect(app.service.getDocument('microsoft-azure-israel-defense')).toBeDefined();
  });

  it('does not overwrite a file the index does not hold yet, nor one named by a front-matter id', async () => {
    await writeFile(join(corpusDir, 'draft.md'), 'Brouillon pas encore indexé.');
    const upload = await app.service.addDocument({ fileName: 'draft.md', content: Buffer.from(BODY) });
    expect(upload.kind === 'added' && upload.document.path).toBe('draft-2.md');
    expect(await readFile(join(corpusDir, 'draft.md'), 'utf8')).toBe('Brouillon pas encore indexé.');
    const seedBefore = await readFile(join(corpusDir, 'seed.md'), 'utf8');
    const named = await app.service.addDocument({
      fileName: 'other.md',
      content: Buffer.from(`---\nid: seed\ntitle: Autre\n---\n${BODY}`),
    });
    expect(named.kind === 'added' && [named.document.id, named.document.path]).toEqual(['seed', 'seed-2.md']);
    expect(await readFile(join(corpusDir, 'seed.md'), 'utf8')).toBe(seedBefore);
  });
});
