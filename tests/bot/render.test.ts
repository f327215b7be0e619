import { describe, expect, it } from 'vitest';
import type { Answer, Quote } from '../../src/rag/service.js';
import { DISCORD_LIMITS, fitsDiscordLimits, renderAnswer, renderPassages } from '../../src/bot/render.js';

const quote = (text: string, docId = 'a', i = 0): Quote => ({
  text,
  docId,
  title: `Title ${docId}`,
  url: `https://example.org/${docId}`,
  start: i,
  end: i + text.length,
  sentenceIndex: i,
  score: 1,
});

function answer(quotes: Quote[], language: 'fr' | 'en' = 'fr'): Answer {
  const docs = [...new Set(quotes.map((q) => q.docId))];
  return {
    kind: 'answer',
    id: '0f1e2d3c-aaaa-bbbb-cccc-123456789abc',
    language,
    framing: language === 'fr' ? 'Voici les passages :' : 'Here are the passages:',
    quotes,
    sources: docs.map((d) => ({
      docId: d,
      title: `Title ${d}`,
      url: `https://example.org/${d}`,
      source: 'Le Journal',
      date: '2025-09-26',
    })),
    corpusVersion: '3:abcdef',
    answerer: 'extractive',
  };
}

describe('renderAnswer', () => {
  it('shows the framing, numbered block quotes, linked sources and the three buttons', () => {
    const [message, ...rest] = renderAnswer(
      answer([quote('Amazon reste silencieuse.', 'a'), quote('Microsoft a suspendu ses services.', 'b')]),
    );
    expect(rest).toEqual([]);
    const embed = message?.embeds[0];
    expect(embed?.description).toBe(
      'Voici les passages :\n\n> Amazon reste silencieuse. **[1]**\n\n> Microsoft a suspendu ses services. **[2]**',
    );
    expect(embed?.fields?.[0]).toEqual({
      name: 'Sources',
      value:
        '[1] [Title a](https://example.org/a) (Le Journal, 2025-09-26)\n[2] [Title b](https://example.org/b) (Le Journal, 2025-09-26)',
    });
    expect(message?.components[0]?.components.map((b) => ('custom_id' in b ? b.custom_id : ''))).toEqual([
      'sources:0f1e2d3c-aaaa-bbbb-cccc-123456789abc',
      'feedback:up:0f1e2d3c-aaaa-bbbb-cccc-123456789abc',
      'feedback:down:0f1e2d3c-aaaa-bbbb-cccc-123456789abc',
    ]);
  });

  it('labels the buttons in the answer language', () => {
    const labels = (language: 'fr' | 'en') =>
      renderAnswer(answer([quote('x y z.')], language))[0]?.components[0]?.components.map((b) =>
        'label' in b ? b.label : '',
      );
    expect(labels('fr')).toEqual(['Sources', 'Utile', 'Pas utile']);
    expect(labels('en')).toEqual(['Sources', 'Helpful', 'Not helpful']);
  });

  it('escapes Markdown so quotes display as written', () => {
    const description =
      renderAnswer(answer([quote('Le *vrai* _nom_ est `x`.')]))[0]?.embeds[0]?.description ?? '';
    expect(description).toContain('Le \\*vrai\\* \\_nom\\_ est \\`x\\`.');
  });

  it('splits a long answer between quotes, within every Discord limit, with sources and buttons last', () => {
    const long = Array.from({ length: 3 }, (_, i) => quote(`${'mot '.repeat(700)}fin ${i}.`, 'a', i * 3000));
    const pages = renderAnswer(answer(long));
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(fitsDiscordLimits(page)).toBe(true);
    const all = pages.map((p) => p.embeds[0]?.description ?? '').join('\n\n');
    for (const q of long) expect(all).toContain(q.text);
    expect(pages.slice(0, -1).every((p) => p.components.length === 0 && !p.embeds[0]?.fields)).toBe(true);
    expect(pages.at(-1)?.components).toHaveLength(1);
    for (const p of pages)
      expect(p.embeds[0]?.description?.length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
  });
});

describe('renderPassages', () => {
  it('shows the sentence before and after each quote, the quote in bold, or says the source is gone', () => {
    const text = 'Avant la citation. La citation elle-même. Après la citation.';
    const doc = {
      id: 'a',
      title: 'Title a',
      url: '',
      text,
      language: 'fr',
      source: '',
      date: '',
      contentHash: '',
      path: 'a.md',
      indexedAt: '',
      size: text.length,
      sentences: [
        { index: 0, start: 0, end: 18, text: '' },
        { index: 1, start: 19, end: 41, text: '' },
        { index: 2, start: 42, end: text.length, text: '' },
      ],
    };
    const rendered = renderPassages(
      {
        language: 'fr',
        quotes: [
          { docId: 'a', title: 'Title a', start: 19, end: 41 },
          { docId: 'gone', title: 'Old', start: 0, end: 3 },
        ],
      },
      (id) => (id === 'a' ? doc : undefined),
    );
    const description = rendered.embeds[0]?.description ?? '';
    expect(description).toContain('Avant la citation. **La citation elle-même.** Après la citation.');
    expect(description).toContain('**[2] Old**\nCe document n’est plus dans le corpus.');
  });
});
