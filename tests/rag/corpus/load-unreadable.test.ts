import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadCorpus } from '../../../src/rag/corpus/index.js';
import { createSilentLogger } from '../../../src/logger.js';

// Tests run as root here, where chmod 000 does not stop a read: the permission error is simulated instead.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (async (file: Parameters<typeof actual.open>[0], ...rest: unknown[]) => {
      if (String(file).endsWith('locked.md')) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${String(file)}'`), {
          code: 'EACCES',
        });
      }
      return (actual.open as (...args: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof actual.open,
  };
});

describe('loadCorpus with an unreadable file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'verbatim-corpus-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the permission error and loads the other files', async () => {
    await writeFile(path.join(dir, 'locked.md'), 'Secret.');
    await writeFile(path.join(dir, 'open.md'), 'Public.');
    const { documents, failures } = await loadCorpus(dir, { logger: createSilentLogger() });
    expect(documents.map((d) => d.id)).toEqual(['open']);
    expect(failures).toEqual([{ file: 'locked.md', reason: 'cannot read file (EACCES)' }]);
  });
});
