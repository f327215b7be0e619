import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { APIEmbed } from 'discord.js';
import { createDiscordClient } from '../../src/bot/bot.js';
import {
  renderNoAnswer,
  renderPartial,
  renderPassages,
  renderResult,
  type RenderedMessage,
} from '../../src/bot/render.js';
import type { Answer, NoAnswer, Quote, Rejected, StoredDocument } from '../../src/rag/service.js';
import { hostileText } from './hostile-text.js';

/** Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
const LIMITS = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  total: 6000,
  rows: 5,
  buttons: 5,
  customId: 100,
  label: 80,
} as const;

/** Every limit a message can break, as a list of broken ones (empty when the message fits). */
function brokenLimits(m: RenderedMessage): string[] {
  const broken: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) broken.push(what);
  };
  check((m.content ?? '').length <= LIMITS.content, 'content');
  check(m.embeds.length <= LIMITS.embeds, 'embeds');
  let total = 0;
  for (const e of m.embeds as APIEmbed[]) {
    const fields = e.fields ?? [];
    check((e.title ?? '').length <= LIMITS.title, 'title');
    check((e.description ?? '').length <= LIMITS.description, 'description');
    check(fields.length <= LIMITS.fields, 'fields');
    for (const f of fields) {
      check(f.name.length > 0 && f.name.length <= LIMITS.fieldName, 'field name');
      check(f.value.length > 0 && f.value.length <= LIMITS.fieldValue, 'field value');
    }
    check((e.footer?.text ?? '').length <= LIMITS.footer, 'footer');
    check((e.author?.name ?? '').length <= LIMITS.author, 'author');
    check(Boolean(e.title || e.description || fields.length || e.footer?.text), 'empty embed');
    total +=
      (e.title ?? '').length +
      (e.description ?? '').length +
      (e.footer?.text ?? '').length +
      (e.author?.name ?? '').length +
      fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  }
  check(total <= LIMITS.total, 'total');
  check(m.components.length <= LIMITS.rows, 'rows');
  for (const row of m.components) {
    check(row.components.length <= LIMITS.buttons, 'buttons');
    for (const b of row.components) {
      if ('custom_id' in b) check(b.custom_id.length <= LIMITS.customId, 'custom_id');
      if ('label' in b) check((b.label ?? '').length <= LIMITS.label, 'label');
    }
  }
  return broken;
}

/** Discord's autolink rule: a link is shown as written, backslashes included. */
const AUTOLINK = /https?:\/\/[^\s<]+[^<.,:;"')\]\s]/g;
/** What Discord shows for an escaped string: outside links, a backslash before a symbol shows the symbol. */
function unescape(s: string): string {
  let out = '';
  let last = 0;
  const plain = (t: string) => t.replace(/\\([^0-9A-Za-z\s])/gu, '$1');
  for (const m of s.matchAll(AUTOLINK)) {
    out += plain(s.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + plain(s.slice(last));
}
/** Offsets of characters that are not escaped by a backslash. */
function unescaped(s: string, pattern: RegExp): number[] {
  const hits: number[] = [];
  for (const m of s.matchAll(pattern)) {
    let slashes = 0;
    for (let k = m.index - 1; k >= 0 && s[k] === '\\'; k -= 1) slashes += 1;
    if (slashes % 2 === 0) hits.push(m.index);
  }
  return hits;
}
const hasLoneSurrogate = (s: string): boolean => /\p{Cs}/u.test(s);

/** Text a hostile user, article or model could produce. */
const DISCORD_PIECES = [
  '@everyone',
  '@here',
  '<@123456789012345678>',
  '<@!123>',
  '<@&123>',
  '<#123>',
  '</ask:123>',
  '<t:1700000000:R>',
  '<:pepe:123>',
  '<a:pepe:123>',
  '[clic](https://evil.example)',
  '[[1]](https://evil.example)',
  '**[1]**',
  '```',
  '```js\nalert(1)\n```',
  '````',
  '`',
  '``',
  '> ',
  '>>> ',
  '\n> ',
  '\n>>> faux\n',
  '# ',
  '\n# Titre',
  '\n-# petit',
  '\n- puce',
  '\n1. un',
  '||spoiler||',
  '~~barré~~',
  '__souligné__',
  '*italique*',
  '_italique_',
  '***',
  '\\',
  '\\\\',
  '\\`',
  'https://example.com/a_b*c*d',
  '\u202E',
  '\u200B',
  '\u2028',
  '\r\n',
  '\r',
  '\n\n',
  '🙂',
  '👩‍👩‍👧',
] as const;
const discordText = fc
  .array(fc.oneof(fc.constantFrom(...DISCORD_PIECES), fc.string({ maxLength: 6 })), { maxLength: 30 })
  .map((parts) => parts.join(''));
const longText = fc
  .tuple(fc.oneof(discordText, hostileText(8)), fc.integer({ min: 50, max: 400 }))
  .map(([s, n]) => (s === '' ? 'x' : s).repeat(n).slice(0, 12_000));
const anyText = fc.oneof(
  { weight: 4, arbitrary: discordText },
  { weight: 3, arbitrary: hostileText(20) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: longText },
);
const wellFormed = (s: string): string => s.replace(/\p{Cs}/gu, '\uFFFD');
const text = anyText.map(wellFormed);
const nonEmptyText = text.filter((s) => s.trim() !== '');
const url = fc.oneof(
  fc.constant(''),
  fc.webUrl(),
  fc.constantFrom(
    'https://example.org/a_(b)',
    'https://example.org/a b)](https://evil.example',
    'https://ex.org/*x*',
  ),
);
const version = fc.oneof(
  fc.tuple(fc.nat(), fc.stringMatching(/^[0-9a-f]{6,12}$/)).map(([n, h]) => `${n}:${h}`),
  text,
);

const quote = (docIds: string[]) =>
  fc.record({
    text: nonEmptyText,
    docId: fc.constantFrom(...docIds),
    title: text,
    url,
    start: fc.nat(),
    end: fc.nat(),
    sentenceIndex: fc.nat(),
    score: fc.double({ noNaN: true }),
  });

const answer: fc.Arbitrary<Answer> = fc
  .uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { minLength: 1, maxLength: 6 })
  .chain((docIds) =>
    fc
      .record({
        language: fc.constantFrom('fr' as const, 'en' as const),
        id: fc.uuid(),
        framing: text,
        note: fc.option(text, { nil: undefined }),
        quotes: fc.array(quote(docIds), { minLength: 1, maxLength: 12 }),
        corpusVersion: version,
        answerer: fc.constantFrom('extractive' as const, 'llm' as const),
        claimTexts: fc.array(text, { maxLength: 12 }),
        sourceMeta: fc.array(fc.record({ title: text, url, source: text, date: text }), {
          minLength: docIds.length,
          maxLength: docIds.length,
        }),
      })
      .map(({ claimTexts, sourceMeta, note, ...a }): Answer => {
        const cited = [...new Set(a.quotes.map((q) => q.docId))];
        return {
          kind: 'answer',
          ...a,
          ...(note === undefined ? {} : { note }),
          sources: cited.map((docId, i) => ({
            docId,
            title: '',
            url: '',
            source: '',
            date: '',
            ...sourceMeta[i],
          })),
          ...(a.answerer === 'llm'
            ? { claims: claimTexts.map((t, i) => ({ text: t, quotes: [i % a.quotes.length] })) }
            : {}),
        };
      }),
  );

const noAnswer: fc.Arbitrary<NoAnswer> = fc.record({
  kind: fc.constant('no_answer' as const),
  id: fc.uuid(),
  language: fc.constantFrom('fr' as const, 'en' as const),
  message: text,
  coverage: fc.array(fc.record({ docId: fc.string(), title: text }), { maxLength: 5 }),
  corpusVersion: version,
});

const rejected: fc.Arbitrary<Rejected> = fc.record({
  kind: fc.constant('rejected' as const),
  reason: fc.constantFrom('empty' as const, 'too_long' as const, 'corpus_empty' as const),
  message: nonEmptyText,
});

function expectSafe(messages: RenderedMessage[]): void {
  expect(messages.length).toBeGreaterThan(0);
  for (const m of messages) {
    expect(brokenLimits(m)).toEqual([]);
    expect(m.allowedMentions).toEqual({ parse: [] });
    const strings = [
      m.content ?? '',
      ...m.embeds.flatMap((e) => [
        e.title ?? '',
        e.description ?? '',
        e.footer?.text ?? '',
        ...(e.fields ?? []).flatMap((f) => [f.name, f.value]),
      ]),
    ];
    for (const s of strings) expect(hasLoneSurrogate(s), JSON.stringify(s)).toBe(false);
  }
}

/** The quote blocks of a description: runs of lines starting with "> ", as the quoted text Discord shows. */
function quoteBlocks(description: string): string[] {
  const blocks: string[][] = [];
  let current: string[] | undefined;
  for (const line of description.split('\n')) {
    if (line.startsWith('>')) {
      expect(line.startsWith('> ')).toBe(true);
      if (!current) blocks.push((current = []));
      current.push(line.slice(2));
    } else current = undefined;
  }
  return blocks.map((lines) => lines.join('\n'));
}

/** Markup the renderer adds itself: citation markers and the italic note. */
const MARKERS = / ?\*\*\[\d+\]\*\*/g;

function expectNoLiveMarkup(description: string, note: string | undefined): void {
  let body = description.replace(MARKERS, '');
  if (note !== undefined) body = body.replace(/^\*/, '').replace(/\*(?=\n|$)/, '');
  const withoutUrls = body.replace(AUTOLINK, (u) => ' '.repeat(u.length));
  expect(unescaped(withoutUrls, /`/g), 'an unescaped backtick opens a code span').toEqual([]);
  expect(unescaped(withoutUrls, /\*|__|~~|\|\|/g), 'unescaped emphasis').toEqual([]);
  expect(
    unescaped(withoutUrls, /<(?:(?:a|t|id)(?=:))?[@#/:]/g),
    'a mention, channel, emoji or timestamp tag would render',
  ).toEqual([]);
  expect(unescaped(withoutUrls, /\[[^\n]*\]\([^\n]*\)/g), 'a masked link would hide its target').toEqual([]);
}

describe('Discord rendering of hostile text (property)', () => {
  it('answers fit every Discord limit, never mention anyone, and quote blocks show exactly the quotes', () => {
    fc.assert(
      fc.property(answer, (a) => {
        const pages = renderResult(a);
        expectSafe(pages);
        expect(pages.slice(0, -1).every((p) => p.components.length === 0)).toBe(true);
        expect(pages.at(-1)?.components).toHaveLength(1);
        const blocks = pages.flatMap((p) => quoteBlocks(p.embeds[0]?.description ?? ''));
        expect(blocks).toHaveLength(a.quotes.length);
        blocks.forEach((block, i) => {
          expect(block).toMatch(/ \*\*\[\d+\]\*\*$/);
          const shown = unescape(block.replace(/ \*\*\[\d+\]\*\*$/, ''));
          const written = (a.quotes[i]?.text ?? '').replace(/[\r\n\u2028\u2029\u0085\v\f]+/g, '\n');
          if (shown !== written) {
            expect(shown.endsWith('…'), 'a quote is cut only with an ellipsis').toBe(true);
            expect(written.startsWith(shown.slice(0, -1)), 'a cut quote shows its beginning').toBe(true);
          }
        });
        for (const p of pages) expectNoLiveMarkup(p.embeds[0]?.description ?? '', a.note);
      }),
      { seed: 0xd15c0, numRuns: 400 },
    );
  });

  it('"not in the sources", rejections and streaming answers fit the limits and mention no one', () => {
    fc.assert(
      fc.property(noAnswer, rejected, answer, (none, refused, a) => {
        expectSafe([renderNoAnswer(none)]);
        expectSafe(renderResult(none));
        expectSafe(renderResult(refused));
        const partial = renderPartial({
          language: a.language,
          framing: a.framing,
          claims: a.claims ?? [],
          quotes: a.quotes,
        });
        expectSafe([partial]);
        expect(quoteBlocks(partial.embeds[0]?.description ?? '').length).toBeLessThanOrEqual(a.quotes.length);
        expectNoLiveMarkup(partial.embeds[0]?.description ?? '', undefined);
      }),
      { seed: 0x5ca1e, numRuns: 200 },
    );
  });

  it('the passages around quotes fit the limits whatever the document says', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(nonEmptyText, text, url, fc.nat(), fc.nat()), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (docs, gone) => {
          const stored = docs.map(([docText, title, link], i): StoredDocument => ({
            id: `d${i}`,
            title,
            url: link,
            text: docText,
            language: 'fr',
            source: '',
            date: '',
            contentHash: '',
            path: '',
            indexedAt: '',
            size: docText.length,
            sentences: [
              { index: 0, start: 0, end: Math.floor(docText.length / 3), text: '' },
              { index: 1, start: Math.floor(docText.length / 3), end: docText.length, text: '' },
            ],
          }));
          const quotes: Pick<Quote, 'docId' | 'start' | 'end' | 'title'>[] = docs.map(
            ([docText, title, , a, b], i) => {
              const start = a % (docText.length + 1);
              const end = start + (b % (docText.length - start + 1));
              return { docId: gone && i % 2 ? 'gone' : `d${i}`, title, start, end };
            },
          );
          const rendered = renderPassages({ language: 'fr', quotes }, (id) =>
            stored.find((d) => d.id === id),
          );
          expectSafe([rendered]);
        },
      ),
      { seed: 0x9a55, numRuns: 200 },
    );
  });
});

describe('Discord rendering: counterexamples found by the properties', () => {
  const base = (quotes: string[], extra: Partial<Answer> = {}): Answer => ({
    kind: 'answer',
    id: '0f1e2d3c-aaaa-bbbb-cccc-123456789abc',
    language: 'fr',
    framing: 'Voici :',
    quotes: quotes.map((text, i) => ({
      text,
      docId: 'a',
      title: 'T',
      url: '',
      start: 0,
      end: text.length,
      sentenceIndex: i,
      score: 1,
    })),
    sources: [{ docId: 'a', title: 'T', url: 'https://example.org/a_(b)', source: '', date: '' }],
    corpusVersion: '1:abcdef',
    answerer: 'extractive',
    ...extra,
  });
  const description = (a: Answer) => renderResult(a)[0]?.embeds[0]?.description ?? '';

  it('every rendered message carries allowedMentions with nothing to parse', () => {
    for (const m of renderResult(base(['@everyone <@123> <@&456>'])))
      expect(m.allowedMentions).toEqual({ parse: [] });
  });

  it('escapes runs of asterisks, underscores and backticks that discord.js escapeMarkdown leaves live', () => {
    const shown = description(base(['****x****', '<a:pepe:123>__souligné__', '````x`']));
    expectNoLiveMarkup(shown, undefined);
    expect(shown).toContain('> \\*\\*\\*\\*x\\*\\*\\*\\* **[1]**');
    expect(shown).toContain('> <a\\:pepe:123>\\_\\_souligné\\_\\_ **[1]**');
    expect(shown).toContain('> \\`\\`\\`\\`x\\` **[1]**');
  });

  it('breaks a mention tag right after a link without touching the link', () => {
    expect(description(base(['https://example.com/a<@123> et [clic](https://evil.example)']))).toContain(
      '> https://example.com/a<\\@123> et \\[clic](https://evil.example) **[1]**',
    );
  });

  it('cannot forge a quote block from a claim or the framing', () => {
    const a = base(['Vrai.'], {
      answerer: 'llm',
      framing: 'Réponse\n> Faux',
      claims: [{ text: 'Une affirmation\n>>> faux **[1]**', quotes: [0] }],
    });
    expect(quoteBlocks(description(a))).toEqual(['Vrai. **[1]**']);
  });

  it('cuts a long quote inside its block, keeping every line quoted and the citation number', () => {
    const shown = description(base([`${'ligne\n'.repeat(2000)}fin`]));
    expect(shown.length).toBeLessThanOrEqual(LIMITS.description);
    const [block] = quoteBlocks(shown);
    expect(block).toMatch(/… \*\*\[1\]\*\*$/);
  });

  it('keeps a description within 4096 characters when the claims alone are longer', () => {
    const a = base(['Vrai.'], {
      answerer: 'llm',
      claims: Array.from({ length: 12 }, () => ({ text: 'x'.repeat(1000), quotes: [0] })),
    });
    for (const m of renderResult(a)) expect(brokenLimits(m)).toEqual([]);
  });

  it('keeps a "not in the sources" embed within 6000 characters whatever the corpus version', () => {
    const none: NoAnswer = {
      kind: 'no_answer',
      id: 'x',
      language: 'fr',
      message: 'm'.repeat(5000),
      coverage: [],
      corpusVersion: 'v'.repeat(3000),
    };
    expect(brokenLimits(renderNoAnswer(none))).toEqual([]);
  });

  it('never sends half of a surrogate pair', () => {
    const text = '𐀀 et la suite';
    const doc = { id: 'd', title: 'T', url: '', text, language: 'fr', source: '', date: '', contentHash: '' };
    const rendered = renderPassages(
      { language: 'fr', quotes: [{ docId: 'd', title: 'T', start: 0, end: 1 }] },
      () => ({
        ...doc,
        path: '',
        indexedAt: '',
        size: text.length,
        sentences: [{ index: 0, start: 0, end: text.length, text }],
      }),
    );
    expect(hasLoneSurrogate(rendered.embeds[0]?.description ?? '')).toBe(false);
  });
});

describe('mentions', () => {
  it('the Discord client parses no mention by default, for any message it sends', () => {
    const client = createDiscordClient({ DISCORD_API_BASE: 'http://127.0.0.1:9/api' });
    expect(client.options.allowedMentions).toEqual({ parse: [] });
    void client.destroy();
  });
});
