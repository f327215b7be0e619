import { describe, expect, it } from 'vitest';
import { contentWords, coverage, keySet } from '../../../src/rag/answer/coverage.js';

const TEXTS = [
  'Microsoft a suspendu l’accès du ministère israélien de la Défense à Azure, selon une enquête interne.',
  'Quand Microsoft a-t-il coupé les services de cloud à l’unité 8200 de Tel-Aviv ?',
  'The company said the surveillance of Palestinians’ phone calls breached its terms of service.',
  'Le Guardian, +972 Magazine et Local Call ont révélé le stockage des appels en Europe.',
  'Qui est-ce qui a dit ça ? Il est vrai que c’est exactement ce qu’il a dit.',
];

const union = (text: string) => new Set(contentWords(text).flatMap((w) => [...w.keys]));

describe('match keys', () => {
  it('gives a text every key of its content words, and only those, on a first and a repeated call', () => {
    for (const text of TEXTS) {
      const expected = union(text);
      expect(keySet(text)).toEqual(expected);
      expect(keySet(text)).toEqual(expected);
    }
    // A hyphenated name counts as its parts and as the glued whole.
    expect([...keySet(TEXTS[1]!)]).toEqual(expect.arrayContaining(['s:tel', 's:aviv', 's:telaviv']));
  });

  it('counts a question word as covered when a passage shares a key with it', () => {
    const question = contentWords('Pourquoi Microsoft a-t-il suspendu ses services ?');
    expect(coverage(question, keySet(TEXTS[0]!))).toBeGreaterThan(0.5);
    expect(coverage(question, keySet('Rien à voir avec la question posée.'))).toBe(0);
  });
});
