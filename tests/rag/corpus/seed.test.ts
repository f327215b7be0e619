import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCorpus } from '../../../src/rag/corpus/index.js';
import { createSilentLogger } from '../../../src/logger.js';

const CORPUS = fileURLToPath(new URL('../../../corpus', import.meta.url));
const SEED_FIXTURE = new URL('../../fixtures/corpus-seed/000_12ca703743a789d0.txt', import.meta.url);
/** The original seed, in the shared folder that sits beside the repository (absent on some machines). */
const SEED_SHARED = new URL('../../../../shared/seed/000_12ca703743a789d0.txt', import.meta.url);
const SEED_LINES = readFileSync(SEED_FIXTURE, 'utf8')
  .split('\n')
  .filter((line) => line !== '');

describe('the seed article in corpus/', () => {
  it('loads without failures, with its id, headline title and French metadata', async () => {
    const { documents, failures } = await loadCorpus(CORPUS, { logger: createSilentLogger() });
    expect(failures).toEqual([]);
    expect(documents.find((d) => d.id === 'microsoft-azure-israel-defense')).toMatchObject({
      id: 'microsoft-azure-israel-defense',
      title: SEED_LINES[0],
      language: 'fr',
      source: '',
      url: '',
      date: '',
      path: 'microsoft-azure-israel-defense.md',
    });
  });

  it('contains every line of the seed file verbatim, in order, one paragraph each', async () => {
    const { documents } = await loadCorpus(CORPUS, { logger: createSilentLogger() });
    const text = documents.find((d) => d.id === 'microsoft-azure-israel-defense')?.text ?? '';
    expect(SEED_LINES).toHaveLength(10);
    for (const line of SEED_LINES) expect(text).toContain(line);
    expect(text).toBe(SEED_LINES.join('\n\n'));
  });

  it.skipIf(!existsSync(SEED_SHARED))('uses a fixture that is byte for byte the shared seed file', () => {
    expect(readFileSync(SEED_FIXTURE).equals(readFileSync(SEED_SHARED))).toBe(true);
  });
});
