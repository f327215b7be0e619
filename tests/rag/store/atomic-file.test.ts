import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256File } from '../../../src/rag/store/atomic-file.js';
import { temporaryDirectory } from '../../helpers/documents.js';

describe('checksums', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await temporaryDirectory();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it.each([0, 1, 1 << 20, (1 << 20) + 1, 2_500_003])(
    'hashes a file of %i bytes as its content is hashed in memory',
    async (size) => {
      const content = randomBytes(size);
      const path = join(dir.path, 'data.bin');
      await writeFile(path, content);
      const expected = createHash('sha256').update(content).digest('hex');
      expect(await sha256File(path)).toBe(expected);
    },
  );
});
