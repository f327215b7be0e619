import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { GenerationalCache } from '../../../src/rag/text/tokenize.js';
import { SEED_FILE, SEED_QUESTIONS } from './seed-questions.js';

const TRICKY = [
  '',
  'Qui est-ce ?',
  'Le ministère de la Défense d’Israël, Tel-Aviv : 1,5 million d’appels. US phone calls surveilled.',
  'telaviv Tel-Aviv TEL-AVIV tel aviv',
  'l’état-major, L’État-Major et l’État ; aujourd’hui, quelqu’un',
  'COVID-19, 5G, 1,234,567, 12.000,5 €, 3,5 %, 1.2.3a, 2²',
  'The phone calls were intercepted; les appels téléphoniques ont été interceptés.',
  'a-t-il dit ? celle-ci, peut-être, Jean-Marc et Marie-Laure',
  'Œuvre, cœur, Straße, ﬁchier, Ἀθῆναι, Москва, 東京',
  'the EU and the UN ; the car constructor',
  'données donnée donner données',
  'covid-1² puis 1² puis covid-1²',
];

const texts = [
  ...readFileSync(SEED_FILE, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== ''),
  ...SEED_QUESTIONS.map((q) => q.question),
  ...TRICKY,
];

const fresh = (text: string, dimensions = 256) => new LocalHashEmbeddings({ dimensions }).embed(text);

describe('LocalHashEmbeddings word cache', () => {
  it('gives the vectors of a cold cache with a warm one and with one that evicts at every word', () => {
    const cold = texts.map((t) => fresh(t));
    const warm = new LocalHashEmbeddings({ dimensions: 256 });
    const tiny = new LocalHashEmbeddings({ dimensions: 256, wordCacheSize: 1 });
    for (let round = 0; round < 2; round += 1) {
      expect(texts.map((t) => warm.embed(t))).toEqual(cold);
      expect(texts.map((t) => tiny.embed(t))).toEqual(cold);
    }
  });

  it('gives a cached word the features of its new text: other language, glued or not, other neighbours', () => {
    const embeddings = new LocalHashEmbeddings({ dimensions: 256 });
    const sequence = [
      'les appels téléphoniques de l’enquête interne',
      'the phone appels of the internal enquête',
      'appels enquête',
      'Tel-Aviv et Jérusalem',
      'telaviv and aviv',
      'ils ont parlé des appels',
    ];
    for (const text of sequence) expect(embeddings.embed(text)).toEqual(fresh(text));
  });

  it('keeps at most twice wordCacheSize words however many it meets', () => {
    const embeddings = new LocalHashEmbeddings({ dimensions: 64, wordCacheSize: 8 });
    const words = Array.from({ length: 200 }, (_, i) => `mot${i.toString(36)}x`);
    for (let i = 0; i < words.length; i += 5) {
      const text = words.slice(i, i + 5).join(' ');
      expect(embeddings.embed(text)).toEqual(fresh(text, 64));
      expect(embeddings.cachedWords).toBeLessThanOrEqual(16);
    }
    expect(() => new LocalHashEmbeddings({ wordCacheSize: 0 })).toThrow(RangeError);
  });

  it('writes into a Float32Array at an offset the float32 values of embed()', () => {
    const embeddings = new LocalHashEmbeddings({ dimensions: 32 });
    const out = new Float32Array(3 * 32).fill(7);
    embeddings.embedInto(texts[0]!, out, 32);
    expect(Array.from(out.subarray(0, 32))).toEqual(new Array(32).fill(7));
    expect(Array.from(out.subarray(32, 64))).toEqual(Array.from(Float32Array.from(fresh(texts[0]!, 32))));
    expect(Array.from(out.subarray(64))).toEqual(new Array(32).fill(7));
  });
});

describe('GenerationalCache', () => {
  it('keeps the keys read since the last roll-over, drops the others, and never holds more than twice its capacity', () => {
    const cache = new GenerationalCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1);
    cache.set('d', 4);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
    for (let i = 0; i < 100; i += 1) {
      cache.set(`k${i}`, i);
      expect(cache.size).toBeLessThanOrEqual(4);
    }
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new GenerationalCache(0)).toThrow(RangeError);
    expect(() => new GenerationalCache(1.5)).toThrow(RangeError);
  });
});
