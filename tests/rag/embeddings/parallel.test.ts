import { afterEach, describe, expect, it } from 'vitest';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { ParallelLocalEmbeddings } from '../../../src/rag/embeddings/parallel.js';
import { countTurns } from '../../helpers/event-loop.js';

describe('ParallelLocalEmbeddings', () => {
  let parallel: ParallelLocalEmbeddings | undefined;
  afterEach(async () => {
    await parallel?.close();
  });

  it('gives exactly the vectors of the local embedder, in order, for large batches embedded in worker threads', async () => {
    parallel = new ParallelLocalEmbeddings({ dimensions: 128, threads: 2 });
    const local = new LocalHashEmbeddings({ dimensions: 128 });
    const texts = Array.from(
      { length: 700 },
      (_, i) => `Phrase ${i} : Microsoft suspend Azure pour le ministère n°${i % 13}.`,
    );
    const vectors = await parallel.embedDocumentsToFloat32(texts);
    expect(vectors).toHaveLength(700);
    for (const i of [0, 349, 350, 699])
      expect(Array.from(vectors[i] ?? [])).toEqual(
        Array.from(Float32Array.from(local.embed(texts[i] ?? ''))),
      );
    expect(parallel.id).toBe(local.id);
    expect(await parallel.embedQuery('Azure')).toEqual(local.embed('Azure'));
  });

  it('embeds small batches on the calling thread, through the LangChain interface too', async () => {
    parallel = new ParallelLocalEmbeddings({ dimensions: 64, threads: 2 });
    const [vector] = await parallel.embedDocuments(['Amazon reste silencieuse.']);
    expect(vector).toEqual(
      new LocalHashEmbeddings({ dimensions: 64 })
        .embed('Amazon reste silencieuse.')
        .map((x) => Math.fround(x)),
    );
  });

  it('lets other events run while it embeds a small batch on the calling thread, and gives the same vectors', async () => {
    parallel = new ParallelLocalEmbeddings({ dimensions: 64, threads: 2, sliceMs: 0 });
    const texts = Array.from({ length: 40 }, (_, i) => `Phrase ${i} : le ministère de la Défense israélien.`);
    const { result, turns } = await countTurns(() => parallel!.embedDocumentsToFloat32(texts));
    expect(turns).toBeGreaterThanOrEqual(texts.length - 1);
    const local = new LocalHashEmbeddings({ dimensions: 64 });
    expect(result.map((v) => Array.from(v))).toEqual(
      texts.map((t) => Array.from(Float32Array.from(local.embed(t)))),
    );
  });
});
