import { firstAbove, sortPacedBy, type Pacer } from '../pacing.js';

/** What {@link sortById} and {@link mergeById} order: anything with an id. */
interface WithId {
  id: string;
}

const compareIds = (a: WithId, b: WithId): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Most recent first (by date as written: ISO dates sort as strings), then by id. */
export const newerFirst = (a: WithId & { date: string }, b: WithId & { date: string }): number =>
  a.date !== b.date ? (a.date < b.date ? 1 : -1) : compareIds(a, b);

/**
 * The `n` most recent documents in {@link newerFirst} order, in one pass that keeps only those `n`: a document older
 * than the n-th kept one costs one comparison of dates.
 */
export function newestDocuments<T extends WithId & { date: string }>(documents: Iterable<T>, n: number): T[] {
  const newest: T[] = [];
  if (n <= 0) return newest;
  for (const d of documents) {
    const last = newest.length === n ? newest[n - 1] : undefined;
    if (last && (d.date < last.date || newerFirst(d, last) >= 0)) continue;
    let at = newest.length;
    while (at > 0 && newerFirst(d, newest[at - 1] as T) < 0) at -= 1;
    newest.splice(at, 0, d);
    if (newest.length > n) newest.pop();
  }
  return newest;
}

/** Documents sorted by id; a large set is sorted in paced runs (125k documents took 200-330 ms in one sort). */
export async function sortById<T extends WithId>(documents: readonly T[], pacer: Pacer): Promise<T[]> {
  if (documents.length <= 4096) return [...documents].sort(compareIds);
  return sortPacedBy(documents, byId, pacer);
}

/**
 * `sorted` without the ids of `dropped`, with `added` merged in by id. The places of the dropped and added documents
 * are found by binary search and the rest of the list is copied without being read: at 125k documents, a pass that
 * read each document's id cost 40-60 ms (a cache miss per document), while a change of one document costs a few
 * microseconds of searching plus a copy of the list's pointers.
 */
export async function mergeById<T extends WithId>(
  sorted: readonly T[],
  dropped: ReadonlySet<string>,
  added: readonly T[],
  pacer: Pacer,
): Promise<T[]> {
  const incoming = await sortById(added, pacer);
  const drops: number[] = [];
  for (const id of dropped) {
    const at = firstAbove(sorted, byId, id, true);
    if (at < sorted.length && (sorted[at] as T).id === id) drops.push(at);
    const pause = pacer.tick();
    if (pause) await pause;
  }
  drops.sort((a, b) => a - b);
  // Where each added document goes: before the first listed id above its own, as a merge that keeps equal ids in
  // list order would put it.
  const places = new Int32Array(incoming.length);
  for (let j = 0; j < incoming.length; j += 1) {
    places[j] = firstAbove(sorted, byId, (incoming[j] as T).id, false);
    const pause = pacer.tick();
    if (pause) await pause;
  }
  // The list between two of those places is copied by `slice` and `concat` (a memory copy of pointers), in groups
  // of pieces so that a change of any size neither overflows the stack nor holds the event loop.
  const pieces: T[][] = [];
  let from = 0;
  let next = 0;
  const insertUpTo = (limit: number) => {
    while (next < incoming.length && (places[next] as number) <= limit) {
      const place = places[next] as number;
      let end = next + 1;
      while (end < incoming.length && places[end] === place) end += 1;
      pieces.push(sorted.slice(from, place), incoming.slice(next, end));
      from = place;
      next = end;
    }
  };
  for (const at of drops) {
    insertUpTo(at);
    pieces.push(sorted.slice(from, at));
    from = at + 1;
  }
  insertUpTo(sorted.length);
  pieces.push(sorted.slice(from));
  let merged: T[] = [];
  for (let p = 0; p < pieces.length; p += PIECES_PER_CONCAT) {
    merged = merged.concat(...pieces.slice(p, p + PIECES_PER_CONCAT));
    const pause = pacer.tick();
    if (pause) await pause;
  }
  return merged;
}

const PIECES_PER_CONCAT = 4096;

const byId = (item: WithId): string => item.id;
