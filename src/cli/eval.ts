import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Answer, QaService } from '../rag/service.js';
import { detectLanguage } from '../rag/text/language.js';
import { foldForMatch } from '../rag/text/normalize.js';
import type { CliOutput } from './io.js';

const questionSetSchema = z.object({
  answerable: z.array(
    z.object({
      id: z.string(),
      language: z.enum(['fr', 'en']),
      question: z.string(),
      answer: z.string(),
      document: z.string(),
    }),
  ),
  unanswerable: z.array(z.object({ id: z.string(), language: z.enum(['fr', 'en']), question: z.string() })),
});

/** A question set: questions with the sentence that answers them, and questions the corpus cannot answer. */
export type QuestionSet = z.infer<typeof questionSetSchema>;

export async function loadQuestionSet(path: string): Promise<QuestionSet> {
  return questionSetSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}

/** Quality of a run over a question set. Shares are between 0 and 1. */
export interface EvalReport {
  byLanguage: Record<'fr' | 'en', { questions: number; hitAt1: number; hitAt3: number; answered: number }>;
  hitAt1: number;
  hitAt3: number;
  /** Share of unanswerable questions that got `no_answer`. */
  declined: number;
  /** Share of shown quotes found verbatim in the document they cite. */
  fidelity: number;
  quotesShown: number;
  misses: { id: string; question: string; got: string[] }[];
  falseAnswers: { id: string; question: string; got: string[] }[];
  /** Which answerer produced most answers: `llm` when an LLM is configured. */
  mode: 'extractive' | 'llm';
  /** LLM mode only. */
  llm?: {
    /** Verified quotes / quotes the model produced, over all answers. */
    citationPrecision: number;
    /** Share of answerable questions whose answering sentence is among the verified quotes. */
    citationRecall: number;
    /** Share of LLM answers written in the question's language. */
    languageMatch: number;
    /** Answers where the extractive answer stood in for the LLM's. */
    fallbacks: number;
  };
}

const share = (n: number, d: number) => (d === 0 ? 1 : n / d);

/** Asks every question of the set and measures hit@1, hit@3, declines and quote fidelity. */
export async function evaluate(service: QaService, set: QuestionSet): Promise<EvalReport> {
  const perLang = {
    fr: { questions: 0, h1: 0, h3: 0, answered: 0 },
    en: { questions: 0, h1: 0, h3: 0, answered: 0 },
  };
  let quotesShown = 0;
  let verbatim = 0;
  const misses: EvalReport['misses'] = [];
  const falseAnswers: EvalReport['falseAnswers'] = [];
  const llm = { produced: 0, verified: 0, answers: 0, languageMatches: 0, fallbacks: 0, recalled: 0 };
  const trackLlm = (result: Answer, language: 'fr' | 'en') => {
    if (result.note) llm.fallbacks += 1;
    if (result.answerer !== 'llm') return;
    llm.answers += 1;
    llm.produced += result.citations?.produced ?? 0;
    llm.verified += result.citations?.verified ?? 0;
    if (detectLanguage((result.claims ?? []).map((c) => c.text).join(' ')) === language)
      llm.languageMatches += 1;
  };
  const checkQuotes = (quotes: { docId: string; text: string; start: number; end: number }[]) => {
    for (const q of quotes) {
      quotesShown += 1;
      const doc = service.getDocument(q.docId);
      if (doc && doc.text.slice(q.start, q.end) === q.text && q.text.trim() !== '') verbatim += 1;
    }
  };

  for (const item of set.answerable) {
    const stats = perLang[item.language];
    stats.questions += 1;
    const result = await service.ask(item.question);
    if (result.kind !== 'answer') {
      misses.push({ id: item.id, question: item.question, got: [result.kind] });
      continue;
    }
    stats.answered += 1;
    checkQuotes(result.quotes);
    trackLlm(result, item.language);
    const target = foldForMatch(item.answer);
    const hits = result.quotes.map((q) => {
      const quote = foldForMatch(q.text);
      return q.docId === item.document && (quote.includes(target) || target.includes(quote));
    });
    if (result.answerer === 'llm' && hits.some(Boolean)) llm.recalled += 1;
    if (hits[0]) stats.h1 += 1;
    if (hits.slice(0, 3).some(Boolean)) stats.h3 += 1;
    else
      misses.push({
        id: item.id,
        question: item.question,
        got: result.quotes.map((q) => q.text.slice(0, 80)),
      });
  }

  let declined = 0;
  for (const item of set.unanswerable) {
    const result = await service.ask(item.question);
    if (result.kind === 'no_answer') declined += 1;
    else if (result.kind === 'answer') {
      checkQuotes(result.quotes);
      trackLlm(result, item.language);
      falseAnswers.push({
        id: item.id,
        question: item.question,
        got: result.quotes.map((q) => q.text.slice(0, 80)),
      });
    }
  }

  const total = perLang.fr.questions + perLang.en.questions;
  const lang = (l: 'fr' | 'en') => ({
    questions: perLang[l].questions,
    hitAt1: share(perLang[l].h1, perLang[l].questions),
    hitAt3: share(perLang[l].h3, perLang[l].questions),
    answered: share(perLang[l].answered, perLang[l].questions),
  });
  return {
    byLanguage: { fr: lang('fr'), en: lang('en') },
    hitAt1: share(perLang.fr.h1 + perLang.en.h1, total),
    hitAt3: share(perLang.fr.h3 + perLang.en.h3, total),
    declined: share(declined, set.unanswerable.length),
    fidelity: share(verbatim, quotesShown),
    quotesShown,
    misses,
    falseAnswers,
    mode: llm.answers > 0 ? 'llm' : 'extractive',
    ...(llm.answers > 0
      ? {
          llm: {
            citationPrecision: share(llm.verified, llm.produced),
            citationRecall: share(llm.recalled, total),
            languageMatch: share(llm.languageMatches, llm.answers),
            fallbacks: llm.fallbacks,
          },
        }
      : {}),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Prints an evaluation report as a small table, with the misses for inspection. */
export function printEvalReport(report: EvalReport, io: CliOutput, verbose = false): void {
  io.out('             questions  hit@1   hit@3   answered');
  for (const l of ['fr', 'en'] as const) {
    const r = report.byLanguage[l];
    io.out(
      `  ${l}         ${String(r.questions).padStart(9)}  ${pct(r.hitAt1).padStart(6)}  ${pct(r.hitAt3).padStart(6)}  ${pct(r.answered).padStart(6)}`,
    );
  }
  io.out(
    `  all        ${String(report.byLanguage.fr.questions + report.byLanguage.en.questions).padStart(9)}  ${pct(report.hitAt1).padStart(6)}  ${pct(report.hitAt3).padStart(6)}`,
  );
  io.out(`unanswerable questions declined: ${pct(report.declined)}`);
  io.out(`quote fidelity: ${pct(report.fidelity)} of ${report.quotesShown} quotes verbatim`);
  io.out(`answerer: ${report.mode}`);
  if (report.llm) {
    io.out(`citation precision: ${pct(report.llm.citationPrecision)} of the model's quotes verified`);
    io.out(
      `citation recall: ${pct(report.llm.citationRecall)} of answerable questions cite the answering sentence`,
    );
    io.out(`answer language matches the question: ${pct(report.llm.languageMatch)}`);
    io.out(`extractive fallbacks: ${report.llm.fallbacks}`);
  }
  if (verbose) {
    for (const m of report.misses) io.out(`miss ${m.id}: ${m.question}\n    got: ${m.got.join(' | ')}`);
    for (const f of report.falseAnswers)
      io.out(`answered ${f.id}: ${f.question}\n    got: ${f.got.join(' | ')}`);
  }
}
