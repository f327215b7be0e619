/** Lets queued events (questions, heartbeats) run before the caller goes on. */
export const yieldToEventLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Time a long loop may hold the event loop between two yields, by default. */
export const DEFAULT_SLICE_MS = 15;

/** A loop's pace keeper: see {@link createPacer}. */
export interface Pacer {
  /** Yields (returns a promise) when the current slice has run its time; otherwise returns nothing. */
  tick(): Promise<void> | undefined;
}

/**
 * A loop's pace keeper: `tick()` after each step yields to the event loop once the current slice has run for
 * `sliceMs`. Slicing by time rather than by a count of steps keeps every stall short whatever a step costs, on a
 * loaded machine as on an idle one, and costs one clock read per step.
 */
export function createPacer(sliceMs = DEFAULT_SLICE_MS, now: () => number = () => performance.now()): Pacer {
  let sliceStart = now();
  return {
    tick() {
      if (now() - sliceStart < sliceMs) return undefined;
      return yieldToEventLoop().then(() => {
        sliceStart = now();
      });
    },
  };
}
