import { createHash, hash } from 'node:crypto';
import path from 'node:path';
import type { SourceDocument } from '../types.js';

const LIGATURES: Record<string, string> = { œ: 'oe', æ: 'ae', ß: 'ss', ø: 'o', đ: 'd', ł: 'l' };

/**
 * Derives a document id from a file name: the base name without extension, lowercased, accents folded, every run of
 * characters outside `[a-z0-9]` turned into one `-`, trimmed of `-`. A name with nothing left (« ???.md »,
 * « 東京.txt ») gets `doc-` and the first 12 hex digits of the SHA-256 of the base name, so it is still stable.
 */
export function deriveDocumentId(fileName: string): string {
  const base = path.posix.basename(fileName.replaceAll('\\', '/'));
  const stem = base.slice(0, base.length - path.posix.extname(base).length) || base;
  const slug = stem
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[œæßøđł]/g, (c) => LIGATURES[c] ?? c)
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || `doc-${createHash('sha256').update(base).digest('hex').slice(0, 12)}`;
}

/**
 * SHA-256 (hex) of a document's id, metadata and normalised text, serialised as a JSON array in a fixed order. The
 * path is left out: moving a file without changing it does not force re-indexing.
 */
export function computeContentHash(
  doc: Pick<SourceDocument, 'id' | 'title' | 'language' | 'source' | 'url' | 'date' | 'text'>,
): string {
  const serialised = JSON.stringify([
    'verbatim-document-v1',
    doc.id,
    doc.title,
    doc.language,
    doc.source,
    doc.url,
    doc.date,
    doc.text,
  ]);
  return hash('sha256', serialised);
}
