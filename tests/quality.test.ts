import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, loadQuestionSet, type EvalReport, type QuestionSet } from '../src/cli/eval.js';
import { loadConfig } from '../src/config.js';
import { createSilentLogger } from '../src/logger.js';
import { createApp, type App } from '../src/main.js';
import { temporaryDirectory } from './helpers/documents.js';

describe('answer quality on the story (npm run eval)', () => {
  let set: QuestionSet;
  let app: App;
  let data: { path: string; cleanup: () => Promise<void> };
  let report: EvalReport;

  beforeAll(async () => {
    set = await loadQuestionSet('tests/fixtures/eval-questions.json');
    data = await temporaryDirectory();
    app = await createApp(loadConfig({ CORPUS_DIR: 'corpus', DATA_DIR: data.path }), createSilentLogger());
    await app.service.refresh();
    report = await evaluate(app.service, set);
  });
  afterAll(async () => {
    await app.close();
    await data.cleanup();
  });

  it('has enough questions in both languages, each answer copied verbatim from the article', async () => {
    const article = await readFile('corpus/microsoft-azure-israel-defense.md', 'utf8');
    expect(set.answerable.length).toBeGreaterThanOrEqual(25);
    expect(set.answerable.filter((q) => q.language === 'fr').length).toBeGreaterThanOrEqual(10);
    expect(set.answerable.filter((q) => q.language === 'en').length).toBeGreaterThanOrEqual(10);
    expect(set.unanswerable.length).toBeGreaterThanOrEqual(5);
    for (const q of set.answerable) expect(article, q.id).toContain(q.answer);
  });

  it('shows only verbatim quotes', () => {
    expect(report.quotesShown).toBeGreaterThan(set.answerable.length * 0.8);
    expect(report.fidelity).toBe(1);
  });

  it('finds the answering sentence among the quotes for at least 90% of French and 70% of English questions', () => {
    expect(report.byLanguage.fr.hitAt3).toBeGreaterThanOrEqual(0.9);
    expect(report.byLanguage.en.hitAt3).toBeGreaterThanOrEqual(0.7);
  });

  it('declines at least 80% of the questions the article cannot answer', () => {
    expect(report.declined).toBeGreaterThanOrEqual(0.8);
  });
});
