import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { APIMessage } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { t } from '../../src/bot/i18n.js';
import { createRandom } from '../../src/cli/bench-corpus.js';
import { loadQuestionSet } from '../../src/cli/eval.js';
import { isFinalEdit, option, quotesOf, SEED } from '../e2e/bot-harness.js';
import {
  startDiscordDouble,
  type DiscordDouble,
  type DoubleUser,
  type RecordedRequest,
} from '../helpers/discord-double.js';
import type { BotChildSettings, BotState } from './discord-bot.child.js';
import { CHILD_EXEC_ARGV, mib } from './memory.js';
import { questionMix } from './questions.js';

/**
 * `npm run soak` (SOAK=1) sends 1,000 questions after a warm-up of 200; the default run 200 after 60.
 *
 * The questions go in rounds. Before each round the test closes a gate in front of the bot's service, so no answer
 * can finish while the round's questions arrive: the first MAX_CONCURRENT new askers are admitted, the next
 * MAX_QUEUED are queued (positions 1..MAX_QUEUED), the rest are told the bot is busy, and users who were admitted in
 * an earlier round are told to wait for the cooldown, whatever the order discord.js delivers the events in. Once all
 * of that has reached the double, the gate opens and every admitted question must get its one final reply.
 */
const SOAK = process.env.SOAK === '1';
const QUESTIONS = SOAK ? 1_000 : 200;
const WARMUP = SOAK ? 200 : 60;
const MAX_CONCURRENT = 2;
const MAX_QUEUED = 6;
const BUSY_PER_ROUND = 2;
const REPEATS_PER_ROUND = 2;
const NEW_PER_ROUND = MAX_CONCURRENT + MAX_QUEUED + BUSY_PER_ROUND;
/** Longer than the soak: a second question from an admitted user is always within the cooldown. */
const COOLDOWN_SECONDS = 3600;
const WAIT = { timeoutMs: 60_000 };
const CHILD = new URL('./discord-bot.child.ts', import.meta.url).pathname;

// ---------------------------------------------------------------- the bot's sentences, in either language

const TEXTS = [t('fr'), t('en')];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Matches a sentence built around a number (as `cooldown(seconds)` is), capturing the number. */
const around = (sentence: string) => new RegExp(`^${escape(sentence).replace('987654', '(\\d+)')}$`);
const COOLDOWN = TEXTS.map((text) => around(text.cooldown(987_654)));
const QUEUED = TEXTS.map((text) => around(text.queued(987_654)));
const numberIn = (patterns: RegExp[], content: unknown): number | undefined => {
  for (const pattern of patterns) {
    const match = typeof content === 'string' ? pattern.exec(content) : null;
    if (match) return Number(match[1]);
  }
  return undefined;
};
const isBusy = (content: unknown) => TEXTS.some((text) => text.busy === content);
const isEmptyQuestionHint = (content: unknown) => TEXTS.some((text) => text.emptyQuestion === content);

// ---------------------------------------------------------------- what the test sent, and what came back

type Via = 'slash' | 'slash-dm' | 'mention' | 'dm';

interface Sent {
  round: number;
  user: DoubleUser;
  via: Via;
  question: string;
  /** Asked by a user admitted in an earlier round: must get the cooldown message. */
  repeat: boolean;
  /** Interaction id, or message id. */
  id: string;
  token?: string;
  channelId: string;
  refusal?: 'busy' | 'cooldown';
  position?: number;
  /** The message showing the queue position (mentions and DMs), which the answer then replaces. */
  noticeId?: string;
}

const isSlash = (s: Sent) => s.via === 'slash' || s.via === 'slash-dm';
const contentOf = (r: RecordedRequest): unknown =>
  r.path.endsWith('/callback') ? r.body?.data?.content : r.body?.content;
const isChannelPost = (r: RecordedRequest) =>
  r.method === 'POST' && /^\/channels\/\d+\/messages$/.test(r.path);
const referencedId = (r: RecordedRequest): string | undefined => r.body?.message_reference?.message_id;

/** What a request is, from the soak's point of view. */
function classify(r: RecordedRequest): 'refusal' | 'notice' | 'hint' | 'reply' | 'other' {
  const content = contentOf(r);
  const callback = r.method === 'POST' && r.path.endsWith('/callback');
  const ownOriginal = r.method === 'PATCH' && r.path.endsWith('/messages/@original');
  if (
    !callback &&
    !ownOriginal &&
    !isChannelPost(r) &&
    !(r.method === 'PATCH' && r.path.startsWith('/channels/'))
  )
    return 'other';
  if (callback && r.body?.type === 5) return 'other';
  if (isBusy(content) || numberIn(COOLDOWN, content) !== undefined) return 'refusal';
  if (numberIn(QUEUED, content) !== undefined) return 'notice';
  if (isEmptyQuestionHint(content)) return 'hint';
  return 'reply';
}

/** Every response of the bot that belongs to `sent`, from an index of the recorded requests. */
function responsesOf(sent: Sent, index: Map<string, RecordedRequest[]>): RecordedRequest[] {
  if (isSlash(sent)) return [...(index.get(`i:${sent.id}`) ?? []), ...(index.get(`t:${sent.token}`) ?? [])];
  const replies = index.get(`m:${sent.id}`) ?? [];
  const edits = replies.flatMap((r) => {
    const id = (r.response?.body as { id?: string } | undefined)?.id;
    return id ? (index.get(`e:${id}`) ?? []) : [];
  });
  return [...replies, ...edits];
}

function indexRequests(requests: readonly RecordedRequest[]): Map<string, RecordedRequest[]> {
  const index = new Map<string, RecordedRequest[]>();
  const add = (key: string, r: RecordedRequest) => index.set(key, [...(index.get(key) ?? []), r]);
  for (const r of requests) {
    let m: RegExpExecArray | null;
    if (r.method === 'POST' && (m = /^\/interactions\/(\d+)\/[^/]+\/callback$/.exec(r.path)))
      add(`i:${m[1]}`, r);
    else if ((m = /^\/webhooks\/\d+\/([^/]+)/.exec(r.path))) add(`t:${m[1]}`, r);
    else if (isChannelPost(r) && referencedId(r)) add(`m:${referencedId(r)}`, r);
    else if (r.method === 'PATCH' && (m = /^\/channels\/\d+\/messages\/(\d+)$/.exec(r.path)))
      add(`e:${m[1]}`, r);
  }
  return index;
}

/** A final reply: an answer (quotes), a decline (an embed without sources) or a rejection (plain text). */
function finalKind(r: RecordedRequest, article: string): { kind: string; problems: string[] } {
  const body = r.path.endsWith('/callback') ? r.body?.data : r.body;
  const problems: string[] = [];
  if (JSON.stringify(body?.allowed_mentions) !== JSON.stringify({ parse: [] }))
    problems.push(`allowed_mentions ${JSON.stringify(body?.allowed_mentions)}`);
  const embed = body?.embeds?.[0];
  if (embed?.fields?.[0]?.name === 'Sources') {
    const quotes = quotesOf(String(embed.description ?? ''));
    if (quotes.length === 0) problems.push('answer without quotes');
    for (const quote of quotes)
      if (!article.includes(quote))
        problems.push(`quote not in the article: ${JSON.stringify(quote.slice(0, 80))}`);
    return { kind: 'answer', problems };
  }
  if (embed) {
    if (String(embed.description ?? '').trim() === '') problems.push('decline without text');
    return { kind: 'decline', problems };
  }
  if (String(body?.content ?? '').trim() === '') problems.push('empty reply');
  return { kind: 'rejection', problems };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

// ---------------------------------------------------------------- the bot in its own process

interface BotChild {
  call<T = unknown>(type: string, args?: Record<string, unknown>): Promise<T>;
  kill(): void;
}

async function startBotChild(settings: BotChildSettings): Promise<BotChild> {
  const child = fork(CHILD, [JSON.stringify(settings)], {
    execArgv: CHILD_EXEC_ARGV,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready!: () => void;
  let failed!: (e: Error) => void;
  const started = new Promise<void>((resolve, reject) => ((ready = resolve), (failed = reject)));
  child.on('message', (m: { event?: string; id?: number; ok?: boolean; value?: unknown; error?: string }) => {
    if (m.event === 'ready') return ready();
    const call = pending.get(m.id ?? -1);
    pending.delete(m.id ?? -1);
    if (m.ok) call?.resolve(m.value);
    else call?.reject(new Error(`bot child: ${m.error}`));
  });
  child.on('exit', (code, signal) => {
    const error = new Error(`bot child exited (${code ?? signal}):\n${output}`);
    failed(error);
    for (const call of pending.values()) call.reject(error);
    pending.clear();
  });
  await started;
  let nextId = 0;
  return {
    call<T>(type: string, args: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, type, ...args });
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

// ---------------------------------------------------------------- the soak

interface Tally {
  questions: number;
  byVia: Record<string, number>;
  admitted: number;
  queued: number;
  positions: Record<number, number>;
  busy: number;
  cooldown: number;
  hints: number;
  finals: Record<string, number>;
  rounds: number;
}

describe(`Discord soak: ${QUESTIONS} questions through the Discord double, ${NEW_PER_ROUND + REPEATS_PER_ROUND} at once against ${MAX_CONCURRENT} answer slots and a queue of ${MAX_QUEUED}`, () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let double: DiscordDouble;
  let bot: BotChild | undefined;
  let article: string;
  const sent: Sent[] = [];
  const problems: string[] = [];
  const tally: Tally = {
    questions: 0,
    byVia: {},
    admitted: 0,
    queued: 0,
    positions: {},
    busy: 0,
    cooldown: 0,
    hints: 0,
    finals: {},
    rounds: 0,
  };
  let warm: BotState;
  let end: BotState;
  let stopped: BotState;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    article = (await readFile(SEED, 'utf8')).replace(/\s+/g, ' ');
    const set = await loadQuestionSet('tests/fixtures/eval-questions.json');
    const mix = questionMix(set, { count: 2 * (QUESTIONS + WARMUP), seed: 11, maxQuestionLength: 500 });
    const random = createRandom(Number(process.env.SOAK_SEED ?? 20_260_215));
    double = await startDiscordDouble();
    bot = await startBotChild({
      article: SEED,
      env: {
        DISCORD_TOKEN: double.token,
        DISCORD_API_BASE: double.apiBase,
        ASK_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS),
        MAX_CONCURRENT_ANSWERS: String(MAX_CONCURRENT),
        MAX_QUEUED_ANSWERS: String(MAX_QUEUED),
        MAX_QUESTION_LENGTH: '500',
      },
    });
    await double.waitForReady();

    let users = 0;
    const newUser = (): DoubleUser => {
      users += 1;
      return { id: String(1_400_000_000_000_000_000n + BigInt(users)), username: `soak-${users}` };
    };
    const hintUser = newUser();
    const admittedUsers: DoubleUser[] = [];
    let drawn = 0;

    const send = (round: number, user: DoubleUser, repeat: boolean): Sent => {
      let question = mix[drawn++ % mix.length]?.question ?? '';
      const draw = random();
      let via: Via = draw < 0.35 ? 'slash' : draw < 0.45 ? 'slash-dm' : draw < 0.75 ? 'mention' : 'dm';
      // Discord does not deliver an empty message; an empty mention is covered on its own below.
      if ((via === 'mention' || via === 'dm') && question.replace(/\s+/g, ' ').trim() === '') via = 'slash';
      if (via === 'mention' || via === 'dm') question = question.slice(0, 1900);
      tally.byVia[via] = (tally.byVia[via] ?? 0) + 1;
      if (via === 'slash' || via === 'slash-dm') {
        const dm = via === 'slash-dm';
        const interaction = double.sendCommand({
          name: 'ask',
          options: [option('question', question)],
          user,
          locale: random() < 0.5 ? 'fr' : 'en-US',
          dm,
        });
        return {
          round,
          user,
          via,
          question,
          repeat,
          id: interaction.id,
          token: interaction.token,
          channelId: dm ? double.dmChannelId(user) : double.textChannelId,
        };
      }
      const dm = via === 'dm';
      const message: APIMessage = double.sendMessage({
        content: question,
        author: user,
        dm,
        mentionBot: !dm,
      });
      return { round, user, via, question, repeat, id: message.id, channelId: message.channel_id };
    };

    /** Resolves with the first `count` requests from index `after` on that match, once answered. */
    const collect = async (count: number, after: number, predicate: (r: RecordedRequest) => boolean) => {
      const found: RecordedRequest[] = [];
      let from = after;
      while (found.length < count) {
        const r = await double.waitForResponse(predicate, { after: from, ...WAIT });
        found.push(r);
        from = double.requests.indexOf(r) + 1;
      }
      return found;
    };

    const round = async (number: number) => {
      const start = double.requests.length;
      await bot!.call('hold');
      const repeaters = shuffle([...admittedUsers], random).slice(0, REPEATS_PER_ROUND);
      const askers = shuffle(
        [
          ...Array.from({ length: NEW_PER_ROUND }, () => ({ user: newUser(), repeat: false })),
          ...repeaters.map((user) => ({ user, repeat: true })),
        ],
        random,
      );
      const batch = askers.map(({ user, repeat }) => send(number, user, repeat));
      const hint = double.sendMessage({ content: '', author: hintUser, mentionBot: true });
      sent.push(...batch);
      tally.questions += batch.length + 1;

      // Everything the bot says before any answer can be ready: refusals, queue positions, the hint.
      const early = await collect(BUSY_PER_ROUND + repeaters.length + MAX_QUEUED + 1, start, (r) =>
        ['refusal', 'notice', 'hint'].includes(classify(r)),
      );
      const slots = await bot!.call<{ held: number; active: number; queued: number }>('waitHeld', {
        count: MAX_CONCURRENT,
      });
      expect(slots, `round ${number}: answer slots and queue`).toEqual({
        held: MAX_CONCURRENT,
        active: MAX_CONCURRENT,
        queued: MAX_QUEUED,
      });
      const index = indexRequests(early);
      const positions: number[] = [];
      for (const r of early.filter((e) => classify(e) === 'hint')) {
        expect(referencedId(r), `round ${number}: the hint answers the empty mention`).toBe(hint.id);
        tally.hints += 1;
      }
      for (const s of batch) {
        for (const r of responsesOf(s, index)) {
          const content = contentOf(r);
          if (classify(r) === 'notice') {
            s.position = numberIn(QUEUED, content);
            positions.push(s.position ?? 0);
            if (!isSlash(s)) s.noticeId = (r.response?.body as { id?: string } | undefined)?.id;
          } else if (isBusy(content)) s.refusal = 'busy';
          else {
            s.refusal = 'cooldown';
            const seconds = numberIn(COOLDOWN, content) ?? 0;
            if (seconds < 1 || seconds > COOLDOWN_SECONDS)
              problems.push(`cooldown of ${seconds} s: ${content}`);
          }
          if (r.path.endsWith('/callback') && (r.body?.data?.flags ?? 0) !== 64)
            problems.push(`refusal to /ask not ephemeral: ${JSON.stringify(r.body)}`);
        }
      }
      expect(
        positions.sort((a, b) => a - b),
        `round ${number}: queue positions`,
      ).toEqual(Array.from({ length: MAX_QUEUED }, (_, i) => i + 1));
      expect(
        batch.filter((s) => s.refusal === 'cooldown').map((s) => s.user.id),
        `round ${number}: the users told to wait for the cooldown are those who already asked`,
      ).toEqual(batch.filter((s) => s.repeat).map((s) => s.user.id));
      expect(
        batch.filter((s) => s.refusal === 'busy' && !s.repeat),
        `round ${number}: askers beyond the queue are told the bot is busy`,
      ).toHaveLength(BUSY_PER_ROUND);

      await bot!.call('release');
      const admitted = batch.filter((s) => s.refusal === undefined);
      await Promise.all(
        admitted.map((s) =>
          double.waitForResponse(
            isSlash(s)
              ? (r) => isFinalEdit(s.token ?? '')(r)
              : (r) =>
                  (isChannelPost(r) && referencedId(r) === s.id && classify(r) === 'reply') ||
                  (s.noticeId !== undefined &&
                    r.method === 'PATCH' &&
                    r.path === `/channels/${s.channelId}/messages/${s.noticeId}`),
            { after: start, ...WAIT },
          ),
        ),
      );
      for (const s of admitted) if (!s.repeat) admittedUsers.push(s.user);
      tally.admitted += admitted.length;
      tally.queued += positions.length;
      for (const p of positions) tally.positions[p] = (tally.positions[p] ?? 0) + 1;
      tally.busy += batch.filter((s) => s.refusal === 'busy').length;
      tally.cooldown += batch.filter((s) => s.refusal === 'cooldown').length;
      tally.rounds += 1;
    };

    let number = 0;
    while (tally.questions < WARMUP) await round(++number);
    warm = await bot.call<BotState>('measure');
    const warmQuestions = tally.questions;
    while (tally.questions - warmQuestions < QUESTIONS) await round(++number);
    end = await bot.call<BotState>('measure');
    stopped = await bot.call<BotState>('stop');

    const index = indexRequests(double.requests);
    for (const s of sent) {
      const responses = responsesOf(s, index);
      const kinds = responses.map(classify);
      const finals = responses.filter((r, i) => kinds[i] === 'reply' || kinds[i] === 'refusal');
      if (finals.length !== 1)
        problems.push(`${s.via} ${s.id} (${s.question.slice(0, 40)}): ${finals.length} final replies`);
      if (kinds.filter((k) => k === 'notice').length > 1)
        problems.push(`${s.via} ${s.id}: several queue notices`);
      for (const r of finals.filter((f) => classify(f) === 'reply')) {
        const final = finalKind(r, article);
        tally.finals[final.kind] = (tally.finals[final.kind] ?? 0) + 1;
        problems.push(...final.problems.map((p) => `${s.via} ${s.id} (${s.question.slice(0, 40)}): ${p}`));
      }
    }
    const growth = end.memory.heapUsed / warm.memory.heapUsed;
    const newUsers = Math.max(1, end.caches.users - warm.caches.users);
    const perUser = (end.memory.heapUsed - warm.memory.heapUsed) / 1024 / newUsers;
    console.info(
      `Discord soak: ${tally.questions - warmQuestions} questions (+${warmQuestions} warm-up) in ${tally.rounds} rounds ` +
        `of ${NEW_PER_ROUND + REPEATS_PER_ROUND + 1}, ${MAX_CONCURRENT} slots, queue ${MAX_QUEUED}, cooldown ${COOLDOWN_SECONDS} s; ` +
        `via ${JSON.stringify(tally.byVia)}; admitted ${tally.admitted} (queued ${tally.queued}, positions ${JSON.stringify(tally.positions)}), ` +
        `busy ${tally.busy}, cooldown ${tally.cooldown}, empty-mention hints ${tally.hints}; finals ${JSON.stringify(tally.finals)}; ` +
        `problems ${problems.length}; unhandled rejections ${stopped.unhandledRejections.count} (bot) ${unhandled.length} (test); ` +
        `error logs ${stopped.errors.count}; heap after warm-up ${mib(warm.memory.heapUsed)} -> after soak ` +
        `${mib(end.memory.heapUsed)} (x${growth.toFixed(3)}; ${perUser.toFixed(1)} KiB per user first seen after the ` +
        `warm-up; ${mib(stopped.heapWithoutDiscordCaches ?? 0)} once discord.js's caches are emptied), ` +
        `rss ${mib(warm.memory.rss)} -> ${mib(end.memory.rss)}; discord.js caches ${JSON.stringify(warm.caches)} -> ` +
        `${JSON.stringify(end.caches)}`,
    );
  }, 600_000);

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    bot?.kill();
    await double?.close();
  });

  it('gives every admitted question exactly one final reply with content: verbatim quotes, a decline or a rejection', () => {
    expect(problems).toEqual([]);
    expect(tally.finals.answer).toBeGreaterThan(0);
    expect(tally.finals.decline).toBeGreaterThan(0);
    expect(tally.finals.rejection).toBeGreaterThan(0);
    expect(Object.values(tally.finals).reduce((a, b) => a + b, 0)).toBe(tally.admitted);
  });

  it('queues beyond MAX_CONCURRENT_ANSWERS, tells queued users their position, and says "busy" beyond MAX_QUEUED_ANSWERS', () => {
    expect(tally.queued).toBe(tally.rounds * MAX_QUEUED);
    expect(tally.busy).toBe(tally.rounds * BUSY_PER_ROUND);
    expect(end.maxInService).toBe(MAX_CONCURRENT);
    expect(end.limiter).toEqual({ active: 0, queued: 0 });
  });

  it('tells users who ask again within the cooldown how long to wait', () => {
    expect(tally.cooldown).toBe((tally.rounds - 1) * REPEATS_PER_ROUND);
  });

  it('leaves no unhandled rejection and logs no error', () => {
    expect(stopped.unhandledRejections).toEqual({ count: 0, examples: [] });
    expect(unhandled).toEqual([]);
    expect(stopped.errors).toEqual({ count: 0, examples: [] });
  });

  it("ends with the bot's heap within 10% of its heap after the warm-up", () => {
    expect(end.memory.heapUsed / warm.memory.heapUsed).toBeLessThanOrEqual(1.1);
  });

  it('keeps nothing per question beyond what discord.js caches per user', () => {
    // discord.js keeps every user, member and DM channel it has seen (and each DM channel's last messages): a few
    // KiB per new user, which the soak's fresh users add up. Without those caches, the heap is back where it was.
    expect((stopped.heapWithoutDiscordCaches ?? Infinity) / warm.memory.heapUsed).toBeLessThanOrEqual(1.03);
  });
});
