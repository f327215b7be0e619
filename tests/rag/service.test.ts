import { copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import { createApp, type App } from '../../src/main.js';
import { temporaryDirectory } from '../helpers/documents.js';

const SEED = 'corpus/microsoft-azure-israel-defense.md';
const PANCAKES = `---
id: crepes
title: La recette des crêpes
language: fr
---
Pour réussir la pâte à crêpes, mélangez la farine, les œufs et le lait.

Laissez reposer la pâte une heure au réfrigérateur avant la cuisson.
`;

describe('QaService', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let corpusDir: string;
  let app: App;

  const start = async (env: Record<string, string> = {}) => {
    app = await createApp(
      loadConfig({ CORPUS_DIR: corpusDir, DATA_DIR: join(root.path, 'data'), ...env }),
      createSilentLogger(),
    );
    return app.service;
  };

  beforeEach(async () => {
    root = await temporaryDirectory();
    corpusDir = join(root.path, 'corpus');
    await mkdir(corpusDir);
    await copyFile(SEED, join(corpusDir, 'seed.md'));
  });
  afterEach(async () => {
    await app?.close();
    await root.cleanup();
  });

  it('rejects empty, blank and over-long questions with a reason', async () => {
    const service = await start({ MAX_QUESTION_LENGTH: '40' });
    await service.refresh();
    expect(await service.ask('')).toMatchObject({ kind: 'rejected', reason: 'empty' });
    expect(await service.ask(' \n\t\u0000 ')).toMatchObject({ kind: 'rejected', reason: 'empty' });
    const long = await service.ask('Pourquoi Microsoft a-t-il suspendu ses services cloud en Israël ?');
    expect(long).toMatchObject({ kind: 'rejected', reason: 'too_long', limit: 40 });
    expect(long.kind === 'rejected' && long.message).toContain('40');
  });

  it('answers with quotes that are exact spans of the stored article, citing its title', async () => {
    const service = await start();
    await service.refresh();
    const result = await service.ask('Qui a annoncé la suspension des services ?');
    expect(result.kind).toBe('answer');
    if (result.kind !== 'answer') return;
    expect(result.quotes.length).toBeGreaterThanOrEqual(1);
    expect(result.quotes.length).toBeLessThanOrEqual(3);
    const doc = service.getDocument(result.quotes[0]?.docId ?? '');
    for (const quote of result.quotes) expect(doc?.text.slice(quote.start, quote.end)).toBe(quote.text);
    expect(result.sources[0]?.title).toBe(doc?.title);
    expect(result.framing).toMatch(/^Voici/);
  });

  it('frames the answer in English for an English question', async () => {
    const service = await start();
    await service.refresh();
    const result = await service.ask('What did the internal investigation at Microsoft find?');
    expect(result.kind).toBe('answer');
    if (result.kind === 'answer') {
      expect(result.language).toBe('en');
      expect(result.framing).toMatch(/^Here/);
    }
  });

  it('says the sources do not answer an unrelated question, and what they cover', async () => {
    const service = await start();
    await service.refresh();
    const result = await service.ask('Quelle est la meilleure recette de gâteau au chocolat ?');
    expect(result.kind).toBe('no_answer');
    if (result.kind === 'no_answer') {
      expect(result.message).toContain('Je ne trouve pas');
      expect(result.message).toContain('Microsoft');
    }
  });

  it('names the most recent articles of a large corpus when a question is not in the sources, and counts the rest', async () => {
    for (let i = 1; i <= 12; i += 1) {
      const day = String(i).padStart(2, '0');
      await writeFile(
        join(corpusDir, `note-${day}.md`),
        `---\ntitle: Note ${day}\ndate: 2025-10-${day}\n---\nLe conseil municipal s'est réuni le ${i} octobre.\n`,
      );
    }
    const service = await start();
    await service.refresh();
    const result = await service.ask('Quelle est la meilleure recette de gâteau au chocolat ?');
    expect(result.kind).toBe('no_answer');
    if (result.kind === 'no_answer') {
      expect(result.coverage.map((c) => c.title)).toEqual(
        ['12', '11', '10', '09', '08', '07', '06', '05'].map((d) => `Note ${d}`),
      );
      expect(result.message).toMatch(/« Note 05 » et 5 autres\.$/);
    }
  });

  it('reports added, changed, removed and unchanged documents on refresh', async () => {
    const service = await start();
    expect(await service.refresh()).toMatchObject({
      kind: 'refreshed',
      added: ['microsoft-azure-israel-defense'],
    });
    await writeFile(join(corpusDir, 'crepes.md'), PANCAKES);
    expect(await service.refresh()).toMatchObject({
      added: ['crepes'],
      unchanged: ['microsoft-azure-israel-defense'],
      changed: [],
      removed: [],
    });
    await writeFile(join(corpusDir, 'crepes.md'), PANCAKES.replace('une heure', 'deux heures'));
    expect(await service.refresh()).toMatchObject({ changed: ['crepes'], added: [] });
    const answer = await service.ask('Combien de temps faut-il laisser reposer la pâte ?');
    expect(answer.kind === 'answer' && answer.quotes[0]?.text).toContain('deux heures');
    await writeFile(join(corpusDir, 'crepes.md.bak'), 'x');
    await rm(join(corpusDir, 'crepes.md'));
    expect(await service.refresh()).toMatchObject({ removed: ['crepes'] });
  });

  it('skips and names a file that cannot be parsed, indexes the others, and keeps an indexed version', async () => {
    const service = await start();
    await writeFile(join(corpusDir, 'crepes.md'), PANCAKES);
    await service.refresh();
    await writeFile(join(corpusDir, 'crepes.md'), Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3, 0x28]));
    await writeFile(join(corpusDir, 'broken.html'), Buffer.from([0x00, 0x01, 0x02, 0xff]));
    const result = await service.refresh();
    expect(result.kind).toBe('refreshed');
    if (result.kind !== 'refreshed') return;
    expect(result.failures.map((f) => f.file).sort()).toEqual(['broken.html', 'crepes.md']);
    expect(result.kept).toEqual(['crepes']);
    expect(
      service
        .listDocuments()
        .map((d) => d.id)
        .sort(),
    ).toEqual(['crepes', 'microsoft-azure-israel-defense']);
  });

  it('lists documents by id in ranges, and finds the first by id whose id or title contains a text', async () => {
    const service = await start();
    await writeFile(join(corpusDir, 'crepes.md'), PANCAKES);
    await writeFile(join(corpusDir, 'azure-bis.md'), '---\ntitle: Azure, la suite\n---\nMicrosoft répond.\n');
    await service.refresh();
    const all = service.listDocuments();
    expect(all.map((d) => d.id)).toEqual(['azure-bis', 'crepes', 'microsoft-azure-israel-defense']);
    expect(service.documentCount).toBe(3);
    expect(service.listDocuments({ offset: 1, limit: 5 })).toEqual(all.slice(1));
    expect(service.listDocuments({ offset: 3, limit: 5 })).toEqual([]);
    expect(service.findDocuments('AZURE', 5)).toEqual([all[0], all[2]]);
    expect(service.findDocuments('azure', 1)).toEqual([all[0]]);
    expect(service.findDocuments('', 2)).toEqual(all.slice(0, 2));
    expect(service.findDocuments('RECETTE', 5)).toEqual([all[1]]);
    expect(service.findDocuments('recette', 0)).toEqual([]);
    expect(service.findDocuments('crêpes (', 5)).toEqual([]);
    expect(all[1]).toEqual({
      id: 'crepes',
      title: expect.any(String),
      language: expect.any(String),
      source: expect.any(String),
      url: expect.any(String),
      date: expect.any(String),
      size: expect.any(Number),
      chunks: expect.any(Number),
      indexedAt: expect.any(String),
      path: 'crepes.md',
    });
  });

  it('names a file that cannot be read and still indexes the others', async () => {
    const service = await start();
    await symlink(join(root.path, 'missing-target.md'), join(corpusDir, 'dangling.md'));
    const result = await service.refresh();
    expect(result.failures.map((f) => f.file)).toEqual(['dangling.md']);
    expect(service.listDocuments().map((d) => d.id)).toEqual(['microsoft-azure-israel-defense']);
  });

  it('gives a clear message for an empty corpus and keeps the index it has', async () => {
    const service = await start();
    await service.refresh();
    await rm(join(corpusDir, 'seed.md'));
    const result = await service.refresh();
    expect(result).toMatchObject({ kind: 'corpus_empty' });
    expect(result.kind === 'corpus_empty' && result.message).toContain(corpusDir);
    expect(service.listDocuments()).toHaveLength(1);
  });

  it('adds an uploaded file under a safe name, answers from it, then removes it recoverably', async () => {
    const service = await start();
    await service.refresh();
    const bad = await service.addDocument({
      fileName: 'photo.md',
      content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0xff]),
    });
    expect(bad.kind).toBe('invalid');
    expect((await readdir(corpusDir)).sort()).toEqual(['seed.md']);

    const added = await service.addDocument({
      fileName: '../../evil name.md',
      content: Buffer.from(PANCAKES),
    });
    expect(added).toMatchObject({ kind: 'added', document: { id: 'crepes' } });
    expect(await readdir(corpusDir)).toContain('crepes.md');
    expect(await readdir(root.path)).not.toContain('evil name.md');
    const answer = await service.ask('Que faut-il mélanger pour la pâte à crêpes ?');
    expect(answer.kind === 'answer' && answer.quotes[0]?.docId).toBe('crepes');

    const removed = await service.removeDocument('crepes');
    expect(removed.kind).toBe('removed');
    expect(await readdir(corpusDir)).not.toContain('crepes.md');
    const aside = await readdir(join(corpusDir, '.removed'));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(corpusDir, '.removed', aside[0] ?? ''), 'utf8')).toBe(PANCAKES);
    const after = await service.ask('Que faut-il mélanger pour la pâte à crêpes ?');
    expect(after.kind === 'answer' ? after.quotes.map((q) => q.docId) : []).not.toContain('crepes');
    expect(await service.removeDocument('crepes')).toEqual({ kind: 'not_found', id: 'crepes' });
  });

  it('adds a web page by URL with its link, and gives a derived id that is taken a new one', async () => {
    const { createServer } = await import('node:http');
    const page =
      '<html><head><title>Amazon et l’armée</title></head><body><nav>Menu</nav><article><h1>Amazon et l’armée</h1><p>Amazon héberge désormais les données transférées par l’armée israélienne depuis Azure.</p><p>Le groupe n’a fait aucun commentaire sur ce contrat.</p></article><script>alert(1)</script></body></html>';
    const server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const service = await start({ URL_FETCH_ALLOWED_NETWORKS: '127.0.0.1' });
      await service.refresh();
      const url = `http://127.0.0.1:${port}/news/amazon-armee.html`;
      const first = await service.addFromUrl(url);
      expect(first).toMatchObject({
        kind: 'added',
        document: { id: 'amazon-armee', url, path: 'amazon-armee.html' },
      });
      const stored = service.getDocument('amazon-armee');
      expect(stored?.text).toContain('Amazon héberge désormais');
      expect(stored?.text).not.toMatch(/alert|Menu/);
      const second = await service.addFromUrl(url);
      expect(second).toMatchObject({ kind: 'added', document: { id: 'amazon-armee-2' }, replaced: false });
      const refreshed = await service.refresh();
      expect(refreshed).toMatchObject({
        unchanged: expect.arrayContaining(['amazon-armee', 'amazon-armee-2']),
        changed: [],
      });
      expect(await service.addFromUrl(`http://127.0.0.1:${port}x/`)).toMatchObject({ kind: 'invalid' });
    } finally {
      server.close();
    }
  });

  it('reads a follow-up with the previous question, and a standalone question without it', async () => {
    const { isFollowUp } = await import('../../src/rag/service.js');
    expect(isFollowUp('et Amazon ?')).toBe(true);
    expect(isFollowUp('What about Google?')).toBe(true);
    expect(isFollowUp('Pourquoi Microsoft a-t-il suspendu ses services ?')).toBe(false);
    const service = await start();
    await service.refresh();
    const alone = await service.ask('et Google ?');
    const followUp = await service.ask('et Google ?', {
      context: ['Que font les militaires israéliens de leurs données ?'],
    });
    expect(alone.kind === 'answer' && followUp.kind === 'answer').toBe(true);
    if (alone.kind === 'answer' && followUp.kind === 'answer')
      expect(followUp.quotes.map((q) => q.text)).not.toEqual(alone.quotes.map((q) => q.text));
  });

  it('a refresh with nothing changed keeps the corpus version; a same-size edit with a new time is re-read', async () => {
    const { utimes } = await import('node:fs/promises');
    const service = await start();
    await writeFile(join(corpusDir, 'crepes.md'), PANCAKES);
    await service.refresh();
    const version = service.corpusVersion;
    expect(await service.refresh()).toMatchObject({
      unchanged: ['crepes', 'microsoft-azure-israel-defense'],
      added: [],
      changed: [],
    });
    expect(service.corpusVersion).toBe(version);
    const edited = PANCAKES.replace('une heure', 'un samedi');
    expect(edited.length).toBe(PANCAKES.length);
    await writeFile(join(corpusDir, 'crepes.md'), edited);
    const later = new Date(Date.now() + 5000);
    await utimes(join(corpusDir, 'crepes.md'), later, later);
    expect(await service.refresh()).toMatchObject({ changed: ['crepes'] });
    expect(service.corpusVersion).not.toBe(version);
  });
});
