import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomically } from './atomic-file.js';

/** HNSW parameters recorded in the manifest. */
export interface HnswParams {
  space: 'cosine';
  m: number;
  efConstruction: number;
  efSearch: number;
  /** Candidates a projected graph returns to be re-ranked on the full vectors. */
  rerank: number;
}

const checksumSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(0),
});

const manifestSchema = z.object({
  formatVersion: z.literal(3),
  embedder: z.object({ id: z.string(), dimensions: z.number().int().positive() }),
  chunkerVersion: z.string(),
  corpusHash: z.string(),
  counts: z.object({
    documents: z.number().int().min(0),
    chunks: z.number().int().min(0),
    deletedSlots: z.number().int().min(0),
    /** Points in the hnsw graphs, deleted ones included. */
    points: z.number().int().min(0),
  }),
  hnsw: z.object({
    space: z.literal('cosine'),
    m: z.number().int().positive(),
    efConstruction: z.number().int().positive(),
    efSearch: z.number().int().positive(),
    rerank: z.number().int().positive(),
    /** Dimensions the graphs are built on: fewer than the embedder's when they hold projected vectors. */
    graphDimensions: z.number().int().positive(),
    /** What the graphs store; absent in manifests written before int8 graphs, whose graphs hold floats. */
    codes: z.enum(['float32', 'int8']).optional(),
  }),
  /** Worker threads holding the graphs (0: one graph on the main thread). */
  layout: z.object({ threads: z.number().int().min(0).max(64) }),
  generation: z.number().int().min(0),
  builtAt: z.string(),
  /** One hnsw file per graph, in graph order, with its size and SHA-256, and a projected graph's vectors file. */
  graphs: z
    .array(
      checksumSchema.extend({
        file: z.string().regex(/^index-\d+\.hnsw$/),
        vectors: checksumSchema.extend({ file: z.string().regex(/^index-\d+\.vectors$/) }).optional(),
      }),
    )
    .min(1),
  lexical: checksumSchema,
  /** The database file as it was when this manifest was written (after a checkpoint), at `generation`. */
  database: checksumSchema.extend({ generation: z.number().int().min(0) }),
});

/**
 * What an index on disk was built from and with. It is checked at start-up: an index whose embedder, chunker,
 * generation or checksum does not match is rebuilt rather than served.
 */
export type IndexManifest = z.infer<typeof manifestSchema>;

type DocumentKey = { id: string; contentHash: string };

function xorInto(acc: Buffer, doc: DocumentKey): void {
  const digest = createHash('sha256').update(`${doc.id}\u0000${doc.contentHash}`).digest();
  for (let i = 0; i < acc.length; i += 1) acc[i] = (acc[i] as number) ^ (digest[i] as number);
}

/**
 * The corpus hash kept up to date one document at a time: XOR is its own inverse, so adding and removing a document
 * are the same {@link CorpusHasher.toggle}. Lets a large change fold documents in while it yields to the event loop.
 */
export class CorpusHasher {
  private readonly acc: Buffer;
  constructor(current?: string) {
    this.acc = current === undefined ? Buffer.alloc(32) : Buffer.from(current, 'hex');
  }
  toggle(doc: DocumentKey): void {
    xorInto(this.acc, doc);
  }
  get hex(): string {
    return this.acc.toString('hex');
  }
}

/**
 * Hash of the corpus content: the XOR of the SHA-256 of each document's (id, content hash). Order does not matter,
 * so a change updates it from the documents it touches ({@link updateCorpusHash}) instead of hashing the corpus.
 */
export function corpusHash(documents: Iterable<DocumentKey>): string {
  return updateCorpusHash(undefined, [], documents);
}

/** {@link corpusHash} of a corpus after `removed` documents left it and `added` ones came in. */
export function updateCorpusHash(
  current: string | undefined,
  removed: Iterable<DocumentKey>,
  added: Iterable<DocumentKey>,
): string {
  const hasher = new CorpusHasher(current);
  for (const d of removed) hasher.toggle(d);
  for (const d of added) hasher.toggle(d);
  return hasher.hex;
}

function digest(manifest: unknown): string {
  return createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

/**
 * Reads a manifest; `undefined` when it is missing, unreadable, not a valid manifest, or altered since it was written
 * (it carries the SHA-256 of its own content, so a flipped bit anywhere in it is caught, not only in the fields that
 * are checked against other files).
 */
export async function readManifest(path: string): Promise<IndexManifest | undefined> {
  try {
    const { sha256, ...body } = JSON.parse(await readFile(path, 'utf8')) as { sha256?: unknown };
    if (sha256 !== digest(body)) return undefined;
    const parsed = manifestSchema.safeParse(body);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeManifest(path: string, manifest: IndexManifest): Promise<void> {
  await writeFileAtomically(path, `${JSON.stringify({ ...manifest, sha256: digest(manifest) }, null, 2)}\n`);
}
