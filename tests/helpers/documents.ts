import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceDocument } from '../../src/rag/types.js';

/** A source document for tests, with a content hash derived from its text. */
export function makeDocument(id: string, text: string, extra: Partial<SourceDocument> = {}): SourceDocument {
  const base = {
    id,
    title: extra.title ?? `Title of ${id}`,
    language: 'fr',
    source: '',
    url: '',
    date: '',
    text,
    path: `${id}.md`,
    ...extra,
  };
  return { ...base, contentHash: createHash('sha256').update(JSON.stringify(base)).digest('hex') };
}

/** A temporary directory removed by the returned cleanup. */
export async function temporaryDirectory(
  prefix = 'verbatim-test-',
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
