import {
  ButtonStyle,
  ComponentType,
  escapeMarkdown,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
} from 'discord.js';
import type { Answer, AskResult, NoAnswer, PartialAnswer, Quote, StoredDocument } from '../rag/service.js';
import { t } from './i18n.js';

/** Discord's limits on what one message may carry. */
export const DISCORD_LIMITS = {
  content: 2000,
  description: 4096,
  fields: 25,
  fieldValue: 1024,
  embedTotal: 6000,
  title: 256,
} as const;

/** Mentions are never parsed: article text, questions and model output can all contain `@everyone` or role pings. */
export const NO_MENTIONS = { parse: [] as never[] };

/** One message of a rendered answer. */
export interface RenderedMessage {
  content?: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponent>[];
}

const COLOR = { answer: 0x2f6feb, none: 0x8b949e, passages: 0x57606a } as const;

function embedLength(embed: APIEmbed): number {
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0)
  );
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A quote as a Discord block quote with its citation number. Never cut unless longer than a whole embed. */
function blockQuote(quote: Quote, citation: number): string {
  const body = escapeMarkdown(quote.text).replace(/\n+/g, '\n> ');
  return clip(`> ${body} **[${citation}]**`, DISCORD_LIMITS.description - 200);
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
    const title = escapeMarkdown(clip(s.title, 180)).replace(/[[\]]/g, '');
    const details = [s.source, s.date].filter(Boolean).join(', ');
    const linked = s.url ? `[${title}](${s.url})` : title;
    const cited =
      answer.answerer === 'llm'
        ? answer.quotes.flatMap((q, qi) => (q.docId === s.docId ? [numbers[qi]] : [])).join(', ')
        : String(i + 1);
    return `[${cited}] ${linked}${details ? ` (${escapeMarkdown(details)})` : ''}`;
  });
  return {
    name: t(answer.language).sourcesHeading,
    value: clip(lines.join('\n'), DISCORD_LIMITS.fieldValue),
  };
}

/** The claims of an LLM answer, each with its citation numbers. */
function claimLines(claims: readonly { text: string; quotes: number[] }[]): string[] {
  return claims.map((c) => `${escapeMarkdown(c.text)} ${c.quotes.map((i) => `**[${i + 1}]**`).join('')}`);
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
  const footer = { text: t(answer.language).footer(answer.corpusVersion) };
  const sources = sourcesField(answer);
  const budget = Math.min(
    DISCORD_LIMITS.description,
    DISCORD_LIMITS.embedTotal - footer.text.length - sources.name.length - sources.value.length - 10,
  );
  const head = [answer.note ? `*${escapeMarkdown(answer.note)}*` : '', escapeMarkdown(answer.framing)]
    .filter(Boolean)
    .join('\n');
  const claims = answer.claims ? [claimLines(answer.claims).join('\n')] : [];
  const quotes = answer.quotes.map((q, i) => blockQuote(q, numbers[i] ?? 0));
  const pages = paginate([head, ...claims, ...quotes], budget);
  return pages.map((description, i) => {
    const last = i === pages.length - 1;
    const embed: APIEmbed = {
      color: COLOR.answer,
      description,
      ...(last ? { fields: [sources], footer } : {}),
    };
    return { embeds: [embed], components: last ? [answerButtons(answer)] : [] };
  });
}

/** An LLM answer while it streams: the claims verified so far and their quotes, without buttons. */
export function renderPartial(partial: PartialAnswer): RenderedMessage {
  const quotes = partial.quotes.map((q, i) => blockQuote(q, i + 1));
  const [description] = paginate(
    [claimLines(partial.claims).join('\n'), ...quotes, '…'],
    DISCORD_LIMITS.description,
  );
  return { embeds: [{ color: COLOR.answer, description: description ?? '…' }], components: [] };
}

/** Renders "not in the sources". */
export function renderNoAnswer(result: NoAnswer): RenderedMessage {
  return {
    embeds: [
      {
        color: COLOR.none,
        description: clip(escapeMarkdown(result.message), DISCORD_LIMITS.description),
        footer: { text: t(result.language).footer(result.corpusVersion) },
      },
    ],
    components: [],
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
      return [{ content: result.message, embeds: [], components: [] }];
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
    if (!doc) return `**[${i + 1}] ${escapeMarkdown(quote.title)}**\n${text.sourceGone}`;
    const at = doc.sentences.findIndex((s) => s.end > quote.start);
    const before = at > 0 ? doc.sentences[at - 1] : undefined;
    const afterIndex = doc.sentences.findIndex((s) => s.start >= quote.end);
    const after = afterIndex >= 0 ? doc.sentences[afterIndex] : undefined;
    const parts = [
      before ? escapeMarkdown(doc.text.slice(before.start, before.end)) : '',
      `**${escapeMarkdown(doc.text.slice(quote.start, quote.end))}**`,
      after ? escapeMarkdown(doc.text.slice(after.start, after.end)) : '',
    ].filter(Boolean);
    const heading = doc.url
      ? `[${escapeMarkdown(clip(doc.title, 180)).replace(/[[\]]/g, '')}](${doc.url})`
      : escapeMarkdown(clip(doc.title, 180));
    return `**[${i + 1}]** ${heading}\n${clip(parts.join(' '), 1200)}`;
  });
  const embed: APIEmbed = {
    color: COLOR.passages,
    title: text.passagesTitle,
    description: clip(blocks.join('\n\n'), DISCORD_LIMITS.description),
  };
  return { embeds: [embed], components: [] };
}

/** True when a rendered message fits Discord's limits (used by tests and as a last check before sending). */
export function fitsDiscordLimits(message: RenderedMessage): boolean {
  if ((message.content?.length ?? 0) > DISCORD_LIMITS.content) return false;
  const total = message.embeds.reduce((n, e) => n + embedLength(e), 0);
  return (
    total <= DISCORD_LIMITS.embedTotal &&
    message.embeds.every(
      (e) =>
        (e.description?.length ?? 0) <= DISCORD_LIMITS.description &&
        (e.fields?.length ?? 0) <= DISCORD_LIMITS.fields &&
        (e.fields ?? []).every((f) => f.value.length <= DISCORD_LIMITS.fieldValue),
    )
  );
}
