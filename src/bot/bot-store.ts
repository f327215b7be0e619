import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Answer, Language } from '../rag/service.js';

/** What is kept of an answer: enough to show its passages and to attach feedback to it. */
export interface AnswerRecord {
  id: string;
  question: string;
  language: Language;
  corpusVersion: string;
  quotes: { docId: string; title: string; start: number; end: number }[];
  userId: string;
  guildId: string | null;
  createdAt: string;
}

/** One vote on an answer. */
export interface FeedbackRecord {
  answerId: string;
  userId: string;
  helpful: boolean;
  question: string;
  corpusVersion: string;
  createdAt: string;
}

/** A corpus change made from Discord: who, when, what. */
export interface AuditRecord {
  action: 'add' | 'remove' | 'refresh';
  userId: string;
  userName: string;
  guildId: string | null;
  detail: string;
}

/**
 * The bot's own durable state in `DATA_DIR/bot.sqlite`: answers (for the Sources button and feedback), feedback
 * votes with the question and corpus version, and the audit trail of corpus changes.
 */
export class BotStore {
  private readonly db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'bot.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS answers (
        id TEXT PRIMARY KEY, question TEXT NOT NULL, language TEXT NOT NULL, corpus_version TEXT NOT NULL,
        quotes TEXT NOT NULL, user_id TEXT NOT NULL, guild_id TEXT, created_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS feedback (
        answer_id TEXT NOT NULL, user_id TEXT NOT NULL, helpful INTEGER NOT NULL, question TEXT NOT NULL,
        corpus_version TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (answer_id, user_id));
      CREATE TABLE IF NOT EXISTS audit (
        at TEXT NOT NULL, action TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL, guild_id TEXT, detail TEXT NOT NULL);
    `);
  }

  saveAnswer(answer: Answer, question: string, userId: string, guildId: string | null): void {
    this.db
      .prepare('INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(
        answer.id,
        question,
        answer.language,
        answer.corpusVersion,
        JSON.stringify(
          answer.quotes.map((q) => ({ docId: q.docId, title: q.title, start: q.start, end: q.end })),
        ),
        userId,
        guildId,
        new Date().toISOString(),
      );
  }

  getAnswer(id: string): AnswerRecord | undefined {
    const row = this.db.prepare('SELECT * FROM answers WHERE id = ?').get(id) as
      | {
          id: string;
          question: string;
          language: Language;
          corpus_version: string;
          quotes: string;
          user_id: string;
          guild_id: string | null;
          created_at: string;
        }
      | undefined;
    if (!row) return undefined;
    return {
      id: row.id,
      question: row.question,
      language: row.language,
      corpusVersion: row.corpus_version,
      quotes: JSON.parse(row.quotes) as AnswerRecord['quotes'],
      userId: row.user_id,
      guildId: row.guild_id,
      createdAt: row.created_at,
    };
  }

  /** Records a vote; a second vote by the same user on the same answer replaces the first. */
  saveFeedback(answer: AnswerRecord, userId: string, helpful: boolean): void {
    this.db
      .prepare('INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?)')
      .run(
        answer.id,
        userId,
        helpful ? 1 : 0,
        answer.question,
        answer.corpusVersion,
        new Date().toISOString(),
      );
  }

  listFeedback(): FeedbackRecord[] {
    const rows = this.db.prepare('SELECT * FROM feedback ORDER BY created_at').all() as {
      answer_id: string;
      user_id: string;
      helpful: number;
      question: string;
      corpus_version: string;
      created_at: string;
    }[];
    return rows.map((r) => ({
      answerId: r.answer_id,
      userId: r.user_id,
      helpful: r.helpful === 1,
      question: r.question,
      corpusVersion: r.corpus_version,
      createdAt: r.created_at,
    }));
  }

  audit(record: AuditRecord): void {
    this.db
      .prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)')
      .run(
        new Date().toISOString(),
        record.action,
        record.userId,
        record.userName,
        record.guildId,
        record.detail,
      );
  }

  listAudit(): (AuditRecord & { at: string })[] {
    return (
      this.db.prepare('SELECT * FROM audit ORDER BY rowid').all() as {
        at: string;
        action: AuditRecord['action'];
        user_id: string;
        user_name: string;
        guild_id: string | null;
        detail: string;
      }[]
    ).map((r) => ({
      at: r.at,
      action: r.action,
      userId: r.user_id,
      userName: r.user_name,
      guildId: r.guild_id,
      detail: r.detail,
    }));
  }

  close(): void {
    this.db.close();
  }
}
