import type { EmbeddingsInterface } from '@langchain/core/embeddings';

/**
 * A LangChain embeddings model that also says who it is. The id and dimensions go into the index manifest, so an
 * index built by one model is never queried with vectors of another.
 */
export interface VerbatimEmbeddings extends EmbeddingsInterface {
  /** Stable identity of the model and its settings, e.g. `local-hash-v1:1024` or `openai:text-embedding-3-small`. */
  readonly id: string;
  /** Length of every vector this model returns. */
  readonly dimensions: number;
  /** Texts per call that suit this model best; the store batches with it when given. */
  readonly preferredBatchSize?: number;
  /** Optional fast path: vectors as typed arrays, skipping the number[] of the LangChain interface. */
  embedDocumentsToFloat32?(texts: string[]): Promise<Float32Array[]>;
  /** Releases threads or connections, if any. */
  close?(): Promise<void>;
}
