export { splitSentences } from './sentences.js';
export { chunkDocument, CHUNKER_VERSION, DEFAULT_CHUNK_OPTIONS, type ChunkOptions } from './chunks.js';
