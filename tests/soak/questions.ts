import { createRandom } from '../../src/cli/bench-corpus.js';
import type { QuestionSet } from '../../src/cli/eval.js';
import type { Language } from '../../src/rag/service.js';

/** Where a soak question comes from. */
export type QuestionCategory = 'answerable' | 'unanswerable' | 'hostile' | 'follow_up';

/** What the service must say to a hostile question whatever the corpus; `any` when only "a valid outcome" is known. */
export type HostileExpectation = 'empty' | 'too_long' | 'any';

/** One question of a soak, with what the service is told besides the question. */
export interface SoakQuestion {
  category: QuestionCategory;
  /** Names the template, so a report can say which kind of hostile input misbehaved. */
  label: string;
  question: string;
  /** Earlier questions of the conversation (follow-ups only). */
  context?: string[];
  /** The asker's language, as a Discord locale would give it. */
  language?: Language;
  expect?: HostileExpectation;
}

const ZERO_WIDTH = '\u200B\u200C\u200D\u2060\uFEFF';

/**
 * Inputs that have broken text pipelines elsewhere: nothing but invisible characters, punctuation or emoji, mentions
 * that Discord would ping, bidirectional overrides, lone surrogates, control characters, combining marks, other
 * scripts. `maxQuestionLength` sizes the over-long ones.
 */
export function hostileQuestions(maxQuestionLength: number): SoakQuestion[] {
  const hostile = (label: string, question: string, expect: HostileExpectation = 'any'): SoakQuestion => ({
    category: 'hostile',
    label,
    question,
    expect,
  });
  return [
    hostile('empty', '', 'empty'),
    hostile('blank', ' \n\t  \r\n', 'empty'),
    hostile('zero-width only', ZERO_WIDTH.repeat(7), 'empty'),
    hostile('control characters only', '\u0000\u0007\u001B\u007F', 'empty'),
    hostile(
      'too long',
      `Pourquoi Microsoft ${'a suspendu Azure '.repeat(Math.ceil(maxQuestionLength / 10))}?`,
      'too_long',
    ),
    hostile('too long, one word', 'A'.repeat(maxQuestionLength * 4), 'too_long'),
    hostile(
      'just under the limit',
      `Qui est Brad Smith ${'et Microsoft '.repeat(40)}?`.slice(0, maxQuestionLength - 2),
    ),
    hostile('punctuation only', '?!?...;;: -- « » ¿¡ …'),
    hostile('one character', '?'),
    hostile('emoji only', '🔥🔥🔥 👩‍👩‍👧 🇮🇱 👍🏽'),
    hostile('emoji in a question', '🤔 Microsoft 🇮🇱 a suspendu quoi ? 👍🏽'),
    hostile('mentions', '@everyone @here <@123456789012345678> <@&987654321098765432> qui est Brad Smith ?'),
    hostile('zero-width inside words', `Mi${ZERO_WIDTH}cro\u200Bsoft a-t-il cou\u200Dpé Az\uFEFFure ?`),
    hostile(
      'right-to-left override',
      '\u202Eliam ruoy kcehc\u202C Pourquoi Microsoft a-t-il suspendu ses services ?',
    ),
    hostile('Hebrew', 'מה מיקרוסופט עשתה עם הצבא הישראלי?'),
    hostile('Arabic', 'لماذا أوقفت مايكروسوفت خدماتها لوزارة الدفاع الإسرائيلية؟'),
    hostile('German', 'Warum hat Microsoft die Dienste für das israelische Militär gesperrt?'),
    hostile('Spanish', '¿Por qué Microsoft suspendió sus servicios al ejército israelí?'),
    hostile('Chinese', '微软为什么暂停向以色列国防部提供服务？'),
    hostile('Russian', 'Почему Microsoft приостановила услуги для армии Израиля?'),
    hostile('lone surrogates', '\uD800Microsoft\uDFFF Azure \uD83D?'),
    hostile('combining marks', 'M̷̢̛i̴͓͝c̶̣̈r̸̰͑o̵̧̕s̶̙͊o̶̺͝f̸̱̈́t̵̰͌ ?'),
    hostile('markdown and code', '```js\nfetch("/api")\n``` **Microsoft** ||spoiler|| > quote `Azure` ?'),
    hostile('newlines', 'Qui\nest\n\n\nBrad\r\nSmith\n?'),
    hostile('HTML', '<script>alert(1)</script><img src=x onerror=alert(1)> Azure ?'),
    hostile('URL', 'https://example.org/?q=Microsoft%20Azure&x=<@123> ?'),
    hostile('repeated word', 'Microsoft '.repeat(45).trim()),
  ];
}

const FOLLOW_UPS: { question: string; language?: Language }[] = [
  { question: 'et Amazon ?' },
  { question: 'et Google ?' },
  { question: 'pourquoi ?' },
  { question: 'et ensuite ?' },
  { question: 'what about Amazon?', language: 'en' },
  { question: 'and Google?', language: 'en' },
  { question: 'why?', language: 'en' },
];

/**
 * `count` questions drawn with a seeded generator from the evaluation set (answerable and unanswerable), hostile
 * inputs and follow-ups that lean on an earlier question. The same seed gives the same questions, in the same order.
 */
export function questionMix(
  set: QuestionSet,
  options: { count: number; seed: number; maxQuestionLength: number },
): SoakQuestion[] {
  const random = createRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const hostile = hostileQuestions(options.maxQuestionLength);
  const questions: SoakQuestion[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const draw = random();
    if (draw < 0.45) {
      const q = pick(set.answerable);
      questions.push({
        category: 'answerable',
        label: q.id,
        question: q.question,
        ...(random() < 0.3 ? { language: q.language as Language } : {}),
      });
    } else if (draw < 0.62) {
      const q = pick(set.unanswerable);
      questions.push({ category: 'unanswerable', label: q.id, question: q.question });
    } else if (draw < 0.85) {
      questions.push(pick(hostile));
    } else {
      const before = pick(set.answerable);
      const follow = pick(FOLLOW_UPS);
      questions.push({
        category: 'follow_up',
        label: `${before.id} + ${follow.question}`,
        question: follow.question,
        context: [before.question],
        ...(follow.language ? { language: follow.language } : {}),
      });
    }
  }
  return questions;
}
