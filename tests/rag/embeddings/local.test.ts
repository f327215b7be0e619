import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_HASH_VERSION, LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { SEED_FILE, SEED_QUESTIONS, UNRELATED_QUESTIONS } from './seed-questions.js';

const dot = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * (b[i] ?? 0), 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

describe('LocalHashEmbeddings', () => {
  const embeddings = new LocalHashEmbeddings();
  const sentences = readFileSync(SEED_FILE, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  let vectors: number[][];

  beforeAll(async () => {
    vectors = await embeddings.embedDocuments(sentences);
  });

  const ranking = async (question: string) => {
    const q = await embeddings.embedQuery(question);
    return vectors.map((v, line) => ({ line, score: dot(v, q) })).sort((a, b) => b.score - a.score);
  };

  it('has the configured dimensions in its id and in every vector', async () => {
    const small = new LocalHashEmbeddings({ dimensions: 256 });
    expect(small.id).toMatch(/^local-hash-v\d+.*:256$/);
    expect(small.dimensions).toBe(256);
    expect(await small.embedQuery('Microsoft suspend ses services')).toHaveLength(256);
    expect(embeddings.dimensions).toBe(1024);
    expect(vectors.every((v) => v.length === 1024)).toBe(true);
  });

  it('returns unit vectors, even for a text with no content word', async () => {
    for (const v of vectors) expect(norm(v)).toBeCloseTo(1, 5);
    expect(norm(await embeddings.embedQuery(''))).toBeCloseTo(1, 5);
    expect(norm(await embeddings.embedQuery('Qui est-ce ?'))).toBeCloseTo(1, 5);
  });

  it('is deterministic across calls and instances, and independent of the other texts of the batch', async () => {
    const again = await new LocalHashEmbeddings().embedDocuments([sentences[4]!]);
    expect(again[0]).toEqual(vectors[4]);
    expect(await embeddings.embedQuery(sentences[2]!)).toEqual(vectors[2]);
  });

  it('keeps its features pinned to its version (on failure: bump LOCAL_HASH_VERSION, then update both values)', () => {
    const v = new LocalHashEmbeddings({ dimensions: 64 }).embed(
      'Le ministère de la Défense d’Israël, Tel-Aviv : 1,5 million d’appels. US phone calls surveilled.',
    );
    const fingerprint = createHash('sha256')
      .update(v.map((x) => x.toFixed(4)).join(','))
      .digest('hex')
      .slice(0, 16);
    expect({ version: LOCAL_HASH_VERSION, fingerprint }).toEqual({
      version: 'local-hash-v1',
      fingerprint: '4152242998a2b50d',
    });
  });

  it('rejects a non-positive dimension', () => {
    expect(() => new LocalHashEmbeddings({ dimensions: 0 })).toThrow(RangeError);
  });

  describe.each(['fr', 'en'] as const)(
    'ranks the seed sentence that answers a paraphrased %s question in the top 3',
    (lang) => {
      it.each(SEED_QUESTIONS.filter((q) => q.lang === lang).map((q) => [q.question, q.expected] as const))(
        '%s -> line %i',
        async (question, expected) => {
          const top3 = (await ranking(question)).slice(0, 3).map((r) => r.line);
          expect(top3).toContain(expected);
        },
      );
    },
  );

  it('ranks the answering sentence first for most questions in both languages', async () => {
    const firsts = { fr: 0, en: 0 };
    for (const q of SEED_QUESTIONS)
      if ((await ranking(q.question))[0]?.line === q.expected) firsts[q.lang] += 1;
    expect(firsts.fr).toBeGreaterThanOrEqual(8);
    expect(firsts.en).toBeGreaterThanOrEqual(8);
  });

  it('gives unrelated questions a clearly lower best similarity than related ones', async () => {
    const best = async (q: string) => (await ranking(q))[0]!.score;
    const related = await Promise.all(SEED_QUESTIONS.map((q) => best(q.question)));
    const unrelated = await Promise.all(UNRELATED_QUESTIONS.map(best));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.max(...unrelated)).toBeLessThan(Math.min(...related));
    expect(mean(unrelated)).toBeLessThan(mean(related) / 3);
  });

  it('brings French phrases and their English translations together through the glossary', async () => {
    const [calls, appels, enquete, investigation, cake] = await embeddings.embedDocuments([
      'the phone calls',
      'les appels téléphoniques',
      'l’enquête interne',
      'the internal investigation',
      'la recette du gâteau',
    ]);
    expect(dot(calls!, appels!)).toBeGreaterThan(0.4);
    expect(dot(enquete!, investigation!)).toBeGreaterThan(0.4);
    expect(dot(appels!, cake!)).toBeLessThan(0.1);
    expect(dot(investigation!, cake!)).toBeLessThan(0.1);
  });

  it('matches a question typed without accents', async () => {
    const top = (
      await ranking('Vers quelles plateformes les militaires israeliens ont-ils deplace leurs donnees ?')
    )[0];
    expect(top?.line).toBe(6);
  });
});
