/** Runs `work` and counts the event-loop turns other events got while it ran. */
export async function countTurns<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let done = false;
  const watch = () => {
    turns += 1;
    if (!done) setImmediate(watch);
  };
  setImmediate(watch);
  const result = await work();
  done = true;
  return { result, turns };
}
