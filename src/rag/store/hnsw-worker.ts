import { workerData } from 'node:worker_threads';
import { serveRequests } from '../workers.js';
import { GraphShard, type GraphParams } from './hnsw-shard.js';
import { loadHnswlib } from './hnswlib.js';
import type { ShardRequest } from './hnsw-shards.js';
import { yieldToEventLoop } from '../pacing.js';

/** Worker side of a graph kept off the main thread: one {@link GraphShard}, driven by {@link ShardRequest}s. */
const params = workerData as GraphParams;
const shard = new GraphShard(params);
// Below nice 19, where it can: at nice 19 a worker building a graph still kept a core to itself for 100 ms while the
// event loop and V8's platform thread queued on the other (Linux rebalances a busy core every few tens of ms).
loadHnswlib(params.build).int8?.idleScheduling?.();
const BLOCK = 256;
/**
 * Points per step of building the graph that replaces an outgrown scan: about 6 ms of work, so that the searches
 * served from the scan meanwhile wait little (steps of 256 points made them wait 33 ms at the median, 64 points 8 ms).
 */
const CATCH_UP_BLOCK = 64;

/** Builds the graph that replaces an outgrown scan, a step at a time, serving queued searches in between. */
async function catchUp(): Promise<void> {
  while (shard.catchUp(CATCH_UP_BLOCK) > 0) await yieldToEventLoop();
}

serveRequests(async (request: ShardRequest): Promise<unknown> => {
  switch (request.op) {
    case 'reset':
      return shard.reset(request.capacity);
    case 'load':
      await shard.load(request.graph, request.vectors);
      return catchUp();
    case 'save':
      return shard.save(request.path);
    case 'saveVectors':
      return shard.saveVectors(request.path);
    case 'add':
      // Searches queued behind a large insertion are served between blocks.
      for (let from = 0; from < request.labels.length; from += BLOCK) {
        shard.add(request.labels, request.vectors, from, Math.min(request.labels.length, from + BLOCK));
        if (from + BLOCK < request.labels.length) await yieldToEventLoop();
      }
      await catchUp();
      return shard.count;
    case 'search':
      return shard.search(request.query, request.k, request.visibleBelow);
    case 'markDelete':
      return shard.markDelete(request.labels);
    case 'ids':
      return shard.ids();
    case 'count':
      return shard.count;
  }
});
