import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../src/config.js';
import { AppError } from '../src/errors.js';

describe('loadConfig', () => {
  it('gives working defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      CORPUS_DIR: 'corpus',
      DATA_DIR: 'data',
      EMBEDDINGS_PROVIDER: 'local',
      HNSW_EF_SEARCH: 400,
      HNSW_GRAPH_DIMENSIONS: 'auto',
      HNSW_RERANK: 50,
    });
    expect(loadConfig({ HNSW_GRAPH_DIMENSIONS: '96' }).HNSW_GRAPH_DIMENSIONS).toBe(96);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reports every invalid key in one error', () => {
    let error: unknown;
    try {
      loadConfig({
        HNSW_EF_SEARCH: '10',
        HNSW_GRAPH_DIMENSIONS: 'half',
        MAX_QUOTES: '7',
        EMBEDDINGS_PROVIDER: 'openai',
        LOG_LEVEL: 'loud',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    const message = (error as AppError).message;
    for (const key of [
      'HNSW_EF_SEARCH',
      'HNSW_GRAPH_DIMENSIONS',
      'MAX_QUOTES',
      'EMBEDDINGS_BASE_URL',
      'EMBEDDINGS_MODEL',
      'LOG_LEVEL',
    ])
      expect(message).toContain(key);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
  });

  it('treats empty values as unset', () => {
    expect(
      loadConfig({ EMBEDDINGS_DIMENSIONS: '', EMBEDDINGS_BASE_URL: '' }).EMBEDDINGS_DIMENSIONS,
    ).toBeUndefined();
  });

  it('reads URL_FETCH_ALLOWED_NETWORKS as addresses and CIDR ranges, public web only by default', () => {
    expect(loadConfig({}).URL_FETCH_ALLOWED_NETWORKS).toEqual([]);
    expect(
      loadConfig({ URL_FETCH_ALLOWED_NETWORKS: ' 10.0.0.0/8, 192.168.1.20 ,fd00::/8,::1' })
        .URL_FETCH_ALLOWED_NETWORKS,
    ).toEqual(['10.0.0.0/8', '192.168.1.20', 'fd00::/8', '::1']);
    for (const bad of ['wiki.lan', '10.0.0.0/33', '::/129', '10.0.0.0/8/1', '300.1.1.1', '10.0.0.0/'])
      expect(() => loadConfig({ URL_FETCH_ALLOWED_NETWORKS: bad }), bad).toThrow(
        /URL_FETCH_ALLOWED_NETWORKS/,
      );
  });

  it('lists exactly the schema keys in .env.example, each with a comment', async () => {
    const lines = (await readFile(new URL('../.env.example', import.meta.url), 'utf8')).split('\n');
    const keys = lines.filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l)).map((l) => l.split('=')[0]);
    expect(keys.sort()).toEqual([...CONFIG_KEYS].sort());
    for (const key of keys) {
      const at = lines.findIndex((l) => l.startsWith(`${key}=`));
      expect(lines[at - 1], `comment above ${key}`).toMatch(/^#/);
    }
  });
});
