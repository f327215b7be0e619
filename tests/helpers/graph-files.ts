import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../../src/rag/store/atomic-file.js';
import type { GraphShard, SavedFile } from '../../src/rag/store/hnsw-shard.js';

/**
 * Saves a projected shard's graph (or scan) and vectors files in `dir` as `index-0.hnsw` and `index-0.vectors`, with
 * the size and checksum a manifest records for each.
 */
export async function saveProjectedShard(
  shard: GraphShard,
  dir: string,
): Promise<{ graph: SavedFile; vectors: SavedFile }> {
  const saved = async (path: string): Promise<SavedFile> => ({
    path,
    expected: { sha256: await sha256File(path), bytes: (await stat(path)).size },
  });
  const graph = join(dir, 'index-0.hnsw');
  const vectors = join(dir, 'index-0.vectors');
  await shard.save(graph);
  await shard.saveVectors(vectors);
  return { graph: await saved(graph), vectors: await saved(vectors) };
}
