/**
 * Applies the latest of a stream of updates at most once per `intervalMs`, one at a time: Discord rate-limits
 * message edits, so a streaming answer is shown by a few edits, not one per token. `finish()` drops what is still
 * pending and waits for the edit in flight, so the final edit always comes last.
 */
export function createEditThrottle<T>(
  apply: (value: T) => Promise<unknown>,
  intervalMs: number,
  onError: (err: unknown) => void = () => undefined,
) {
  let last = -Infinity;
  let pending: { value: T } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let finished = false;

  const run = () => {
    timer = undefined;
    if (!pending || finished) return;
    const { value } = pending;
    pending = undefined;
    last = Date.now();
    inFlight = inFlight.then(() => apply(value)).then(() => undefined, onError);
  };

  return {
    push(value: T): void {
      if (finished) return;
      pending = { value };
      if (timer) return;
      const wait = last + intervalMs - Date.now();
      if (wait <= 0) run();
      else timer = setTimeout(run, wait);
    },
    async finish(): Promise<void> {
      finished = true;
      if (timer) clearTimeout(timer);
      pending = undefined;
      await inFlight;
    },
  };
}
