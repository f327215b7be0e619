import { describe, expect, it } from 'vitest';
import { verifyQuotes, type VerifiableDocument } from '../../../src/rag/answer/verify.js';
import { createRecordingLogger } from '../../helpers/logger.js';

const text =
  'Le président de Microsoft, Brad Smith, a souligné l’enquête.\n\nAmazon reste « silencieuse » à ce sujet.';
const doc: VerifiableDocument = {
  id: 'd',
  title: 'T',
  url: 'https://example.org/a',
  text,
  sentences: [
    { start: 0, end: 60 },
    { start: 62, end: text.length },
  ],
};
const get = (id: string) => (id === 'd' ? doc : undefined);

describe('verifyQuotes', () => {
  it('keeps a quote found modulo whitespace and apostrophe variants, showing the stored characters', () => {
    const { logger } = createRecordingLogger();
    const [quote, apostrophe] = verifyQuotes(
      [
        { docId: 'd', text: 'Amazon  reste " silencieuse "\nà ce sujet.', score: 1 },
        { docId: 'd', text: "a souligné l'enquête.", score: 1 },
      ],
      get,
      logger,
    );
    expect(quote?.text).toBe('Amazon reste « silencieuse » à ce sujet.');
    expect(text.slice(quote?.start, quote?.end)).toBe(quote?.text);
    expect(quote?.sentenceIndex).toBe(1);
    expect(apostrophe?.text).toBe('a souligné l’enquête.');
    expect(apostrophe?.sentenceIndex).toBe(0);
    expect(quote?.url).toBe('https://example.org/a');
  });

  it('drops and logs a quote that is not in the document, or cites an unknown document', () => {
    const { logger, records } = createRecordingLogger();
    const quotes = verifyQuotes(
      [
        { docId: 'd', text: 'Amazon a vivement réagi.', score: 1 },
        { docId: 'missing', text: 'Amazon reste', score: 1 },
        { docId: 'd', text: '   ', score: 1 },
        { docId: 'd', text: 'Brad Smith, a souligné', score: 0.5 },
      ],
      get,
      logger,
    );
    expect(quotes.map((q) => q.text)).toEqual(['Brad Smith, a souligné']);
    const drops = records.filter((r) => r.msg === 'quote dropped');
    expect(drops.map((r) => r.reason)).toEqual(['not_verbatim', 'unknown_document', 'not_verbatim']);
  });

  it('does not accept a paraphrase that differs only by case or accents', () => {
    const { logger } = createRecordingLogger();
    expect(
      verifyQuotes([{ docId: 'd', text: 'amazon reste « silencieuse »', score: 1 }], get, logger),
    ).toEqual([]);
    expect(verifyQuotes([{ docId: 'd', text: 'Le president de Microsoft', score: 1 }], get, logger)).toEqual(
      [],
    );
  });
});
