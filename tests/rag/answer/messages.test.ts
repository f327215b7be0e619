import { describe, expect, it } from 'vitest';
import { noAnswerMessage } from '../../../src/rag/answer/messages.js';

describe('noAnswerMessage', () => {
  it('lists every title of a small corpus', () => {
    expect(noAnswerMessage('fr', ['A', 'B', 'C'])).toBe(
      'Je ne trouve pas la réponse dans les sources. Elles couvrent : « A », « B » et « C ».',
    );
    expect(noAnswerMessage('en', ['A'])).toBe("I can't find the answer in the sources. They cover: “A”.");
  });

  it('names a few articles of a large corpus and counts the others instead of listing them all', () => {
    expect(noAnswerMessage('en', ['A', 'B'], 125_090)).toBe(
      "I can't find the answer in the sources. They cover: “A”, “B” and 125,088 more.",
    );
    expect(noAnswerMessage('fr', ['A', 'B'], 1002)).toMatch(/« A », « B » et 1\s000 autres\.$/);
  });

  it('says when the corpus is empty', () => {
    expect(noAnswerMessage('fr', [], 0)).toMatch(/corpus est vide/);
  });
});
