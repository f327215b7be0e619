import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
} from 'discord.js';
import type { Answer, AskResult, NoAnswer, PartialAnswer, Quote, StoredDocument } from '../rag/service.js';
import { t } from './i18n.js';

/** Discord's limits on what one message may carry (characters, except `embeds` and `fields`). */
export const DISCORD_LIMITS = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  embedTotal: 6000,
} as const;

/** Mentions are never parsed: article text, questions and model output can all contain `@everyone` or role pings. */
export const NO_MENTIONS = { parse: [] as never[] };

/** One message of a rendered answer. */
export interface RenderedMessage {
  content?: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponent>[];
  /** Always {@link NO_MENTIONS}: every rendered message carries it, whoever sends it. */
  allowedMentions?: typeof NO_MENTIONS;
}

const COLOR = { answer: 0x2f6feb, none: 0x8b949e, passages: 0x57606a } as const;

function embedLength(embed: APIEmbed): number {
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.author?.name.length ?? 0) +
    (embed.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0)
  );
}

/** Cuts `text` to `max` characters with an ellipsis, never inside a surrogate pair or a backslash escape. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = text.slice(0, /[\uD800-\uDBFF]/.test(text[max - 2] ?? '') ? max - 2 : max - 1);
  if ((/\\+$/.exec(kept)?.[0].length ?? 0) % 2 === 1) kept = kept.slice(0, -1);
  return `${kept}…`;
}

const LINE_BREAK_RUN = /(?:\r\n?|[\n\v\f\u0085\u2028\u2029])+/g;
/** Discord's autolink rule: inside a link, Markdown is not parsed, and a backslash would become part of the URL. */
const AUTOLINK = /https?:\/\/[^\s<]+[^<.,:;"')\]\s]/g;

function escapePlain(text: string): string {
  return text
    .replace(/[\\*_`~|[]/g, '\\$&')
    .replace(/^([^\S\r\n\u2028\u2029]*)([>#+-])/gm, '$1\\$2')
    .replace(/^([^\S\r\n\u2028\u2029]*\d+)\./gm, '$1\\.')
    .replace(/<((?:a|t|id)(?=:))?([@#/:])/g, '<$1\\$2');
}

/**
 * Escapes text so that Discord shows it as written, outside of links: every backslash, `*`, `_`, backtick, `~`, `|`
 * and `[` (a masked link would hide its target); a block quote, heading, subtext or list marker at a line start; the
 * symbol after the `<` of a `<@…>`, `<#…>`, `<t:…>` or emoji tag (which would render a mention, a channel or a date
 * instead of the characters; a backslash before the `<` would be swallowed by a link just before it). Lone surrogates
 * become U+FFFD. discord.js's `escapeMarkdown` is not enough: it leaves some runs of `*`, `_` and backticks live.
 */
function escapeText(text: string): string {
  const clean = text.replace(/\p{Cs}/gu, '\uFFFD');
  let out = '';
  let last = 0;
  for (const m of clean.matchAll(AUTOLINK)) {
    out += escapePlain(clean.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + escapePlain(clean.slice(last));
}

/** A link target Discord cannot misread: an absolute http(s) URL with parentheses and spaces encoded. */
function linkTarget(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    return parsed.href.replace(/\(/g, '%28').replace(/\)/g, '%29');
  } catch {
    return undefined;
  }
}

/** A title shown as a link when the URL is usable, as plain text otherwise. */
function linkedTitle(title: string, url: string): string {
  const text = escapeText(clip(title, 180)).replace(/[[\]]/g, '');
  const target = linkTarget(url);
  return target && text.trim() !== '' ? `[${text}](${target})` : text;
}

/**
 * A quote as a Discord block quote with its citation number: every line starts with `> `, so no character of the
 * quote can end the block or start another one. Cut (with `…`) only when longer than `max`.
 */
function blockQuote(quote: Pick<Quote, 'text'>, citation: number, max: number): string {
  const marker = ` **[${citation}]**`;
  const body = clip(escapeText(quote.text).replace(LINE_BREAK_RUN, '\n> '), max - 2 - marker.length);
  return `> ${body.replace(/\n>?…$/, '…')}${marker}`;
}

/** Joins lines of at most `max` characters into blocks of at most `max` characters. */
function packLines(lines: readonly string[], max: number): string[] {
  const blocks: string[] = [];
  for (const line of lines) {
    const last = blocks.at(-1);
    if (last !== undefined && last.length + 1 + line.length <= max)
      blocks[blocks.length - 1] = `${last}\n${line}`;
    else blocks.push(line);
  }
  return blocks;
}

/** Citation numbers: per source for extractive answers, per quote for LLM answers (whose claims cite quotes). */
function citationNumbers(answer: Pick<Answer, 'quotes' | 'sources' | 'answerer'>): number[] {
  if (answer.answerer === 'llm') return answer.quotes.map((_, i) => i + 1);
  const bySource = new Map(answer.sources.map((s, i) => [s.docId, i + 1]));
  return answer.quotes.map((q) => bySource.get(q.docId) ?? 0);
}

function sourcesField(answer: Answer): { name: string; value: string } {
  const numbers = citationNumbers(answer);
  const lines = answer.sources.map((s, i) => {
    const details = clip([s.source, s.date].filter(Boolean).join(', '), 200);
    const cited =
      answer.answerer === 'llm'
        ? answer.quotes.flatMap((q, qi) => (q.docId === s.docId ? [numbers[qi]] : [])).join(', ')
        : String(i + 1);
    return `[${cited}] ${linkedTitle(s.title, s.url)}${details ? ` (${escapeText(details)})` : ''}`;
  });
  return {
    name: t(answer.language).sourcesHeading,
    value: clip(lines.join('\n'), DISCORD_LIMITS.fieldValue),
  };
}

/** The claims of an LLM answer, each on one line of at most `max` characters, ending with its citation numbers. */
function claimLines(claims: readonly { text: string; quotes: number[] }[], max: number): string[] {
  return claims.map((c) => {
    const markers = c.quotes.map((i) => `**[${i + 1}]**`).join('');
    return `${clip(escapeText(c.text.replace(/\s+/g, ' ')), max - markers.length - 1)} ${markers}`;
  });
}

/** Splits blocks into embed descriptions of at most `budget` characters, never inside a block. */
function paginate(blocks: readonly string[], budget: number): string[] {
  const pages: string[] = [];
  let current = '';
  for (const block of blocks) {
    if (current !== '' && current.length + 2 + block.length > budget) {
      pages.push(current);
      current = block;
    } else current = current === '' ? block : `${current}\n\n${block}`;
  }
  pages.push(current);
  return pages;
}

/** The buttons under an answer: Sources, then helpful / not helpful. Custom ids carry the answer id. */
export function answerButtons(answer: Answer): APIActionRowComponent<APIButtonComponent> {
  const text = t(answer.language);
  return {
    type: ComponentType.ActionRow,
    components: [
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        custom_id: `sources:${answer.id}`,
        label: text.sourcesButton,
        emoji: { name: '📄' },
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Success,
        custom_id: `feedback:up:${answer.id}`,
        label: text.helpful,
        emoji: { name: '👍' },
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Danger,
        custom_id: `feedback:down:${answer.id}`,
        label: text.notHelpful,
        emoji: { name: '👎' },
      },
    ],
  };
}

/**
 * Renders an answer as one or more messages: the framing line (and the note of a fallback), the claims of an LLM
 * answer, the quotes as numbered block quotes and the sources, in embeds that respect Discord's limits. A long answer
 * is split between blocks, never inside a quote; the sources and the buttons go with the last message.
 */
export function renderAnswer(answer: Answer): RenderedMessage[] {
  const numbers = citationNumbers(answer);
  const footer = footerOf(answer.language, answer.corpusVersion);
  const sources = sourcesField(answer);
  const budget = Math.min(
    DISCORD_LIMITS.description,
    DISCORD_LIMITS.embedTotal - footer.text.length - sources.name.length - sources.value.length - 10,
  );
  const note = answer.note?.replace(/\s+/g, ' ').trim();
  const noteLine = note ? `*${clip(escapeText(note), 500)}*` : '';
  const head = [noteLine, clip(escapeText(answer.framing), budget - noteLine.length - 1)]
    .filter(Boolean)
    .join('\n');
  const claims = answer.claims ? packLines(claimLines(answer.claims, budget), budget) : [];
  const quotes = answer.quotes.map((q, i) =>
    blockQuote(q, numbers[i] ?? 0, Math.min(budget, DISCORD_LIMITS.description - 200)),
  );
  const pages = paginate([head, ...claims, ...quotes].filter(Boolean), budget);
  return pages.map((description, i) => {
    const last = i === pages.length - 1;
    const embed: APIEmbed = {
      color: COLOR.answer,
      description: description || '…',
      ...(last ? { fields: [sources], footer } : {}),
    };
    return { embeds: [embed], components: last ? [answerButtons(answer)] : [], allowedMentions: NO_MENTIONS };
  });
}

/** The corpus version line, kept short so that a full description still fits the 6000-character total. */
function footerOf(language: Answer['language'], corpusVersion: string): { text: string } {
  return { text: clip(t(language).footer(corpusVersion), 200) };
}

/** An LLM answer while it streams: the claims verified so far and their quotes, without buttons. */
export function renderPartial(partial: PartialAnswer): RenderedMessage {
  const max = DISCORD_LIMITS.description;
  const quotes = partial.quotes.map((q, i) => blockQuote(q, i + 1, max - 200));
  const [description] = paginate([...packLines(claimLines(partial.claims, max), max), ...quotes, '…'], max);
  return {
    embeds: [{ color: COLOR.answer, description: description || '…' }],
    components: [],
    allowedMentions: NO_MENTIONS,
  };
}

/** Renders "not in the sources". */
export function renderNoAnswer(result: NoAnswer): RenderedMessage {
  return {
    embeds: [
      {
        color: COLOR.none,
        description: clip(escapeText(result.message), DISCORD_LIMITS.description) || '…',
        footer: footerOf(result.language, result.corpusVersion),
      },
    ],
    components: [],
    allowedMentions: NO_MENTIONS,
  };
}

/** Renders any outcome of a question. Rejections are plain text. */
export function renderResult(result: AskResult): RenderedMessage[] {
  switch (result.kind) {
    case 'answer':
      return renderAnswer(result);
    case 'no_answer':
      return [renderNoAnswer(result)];
    case 'rejected':
      return [
        {
          content: clip(result.message, DISCORD_LIMITS.content),
          embeds: [],
          components: [],
          allowedMentions: NO_MENTIONS,
        },
      ];
  }
}

/**
 * The passage around each quote, for the Sources button: the sentence before, the quote in bold, the sentence
 * after, with the document title and link.
 */
export function renderPassages(
  answer: { language: Answer['language']; quotes: Pick<Quote, 'docId' | 'start' | 'end' | 'title'>[] },
  getDocument: (id: string) => StoredDocument | undefined,
): RenderedMessage {
  const text = t(answer.language);
  const blocks = answer.quotes.map((quote, i) => {
    const doc = getDocument(quote.docId);
    if (!doc) return `**[${i + 1}] ${escapeText(clip(quote.title, 180))}**\n${text.sourceGone}`;
    const sentences = doc.sentences;
    const at = sentences.findIndex((s) => s.end > quote.start);
    const before = at > 0 ? sentences[at - 1] : undefined;
    const afterIndex = sentences.findIndex((s) => s.start >= quote.end);
    const after = afterIndex >= 0 ? sentences[afterIndex] : undefined;
    const parts = [
      before ? escapeText(doc.text.slice(before.start, before.end)) : '',
      `**${escapeText(doc.text.slice(quote.start, quote.end))}**`,
      after ? escapeText(doc.text.slice(after.start, after.end)) : '',
    ].filter(Boolean);
    return `**[${i + 1}]** ${linkedTitle(doc.title, doc.url)}\n${clip(parts.join(' '), 1200)}`;
  });
  const embed: APIEmbed = {
    color: COLOR.passages,
    title: text.passagesTitle,
    description: clip(blocks.join('\n\n'), DISCORD_LIMITS.description),
  };
  return { embeds: [embed], components: [], allowedMentions: NO_MENTIONS };
}

/** True when a rendered message fits Discord's limits (used by tests and as a last check before sending). */
export function fitsDiscordLimits(message: RenderedMessage): boolean {
  if ((message.content?.length ?? 0) > DISCORD_LIMITS.content) return false;
  if (message.embeds.length > DISCORD_LIMITS.embeds) return false;
  const total = message.embeds.reduce((n, e) => n + embedLength(e), 0);
  return (
    total <= DISCORD_LIMITS.embedTotal &&
    message.embeds.every(
      (e) =>
        (e.title?.length ?? 0) <= DISCORD_LIMITS.title &&
        (e.description?.length ?? 0) <= DISCORD_LIMITS.description &&
        (e.footer?.text.length ?? 0) <= DISCORD_LIMITS.footer &&
        (e.author?.name.length ?? 0) <= DISCORD_LIMITS.author &&
        (e.fields?.length ?? 0) <= DISCORD_LIMITS.fields &&
        (e.fields ?? []).every(
          (f) => f.name.length <= DISCORD_LIMITS.fieldName && f.value.length <= DISCORD_LIMITS.fieldValue,
        ),
    )
  );
}
