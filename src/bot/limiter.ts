/** Outcome of asking for a slot. Refusals are decided at once, so the caller can answer within Discord's 3 s. */
export type Admission =
  | {
      kind: 'admitted';
      /** 0 when a slot is free now, else the 1-based queue position. */ position: number;
      ready: Promise<void>;
      release: () => void;
    }
  | { kind: 'cooldown'; retryAfterSeconds: number }
  | { kind: 'busy' }
  | { kind: 'closed' };

/** Options of {@link createLimiter}. */
export interface LimiterOptions {
  maxConcurrent: number;
  maxQueued: number;
  cooldownMs: number;
  now?: () => number;
}

/**
 * Admission control for answers: a per-user cooldown, a global cap on answers prepared at once, and a FIFO queue
 * beyond it (never a silent drop: a full queue says `busy`, a queued caller learns its position). `close()` stops
 * admitting; `idle()` resolves once every admitted answer has released its slot, for a graceful shutdown.
 */
export function createLimiter(options: LimiterOptions) {
  const now = options.now ?? Date.now;
  const lastAsked = new Map<string, number>();
  const waiting: (() => void)[] = [];
  let active = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const releaseSlot = () => {
    const next = waiting.shift();
    if (next) return next();
    active -= 1;
    if (active === 0) {
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    }
  };

  return {
    tryAcquire(userId: string): Admission {
      if (closed) return { kind: 'closed' };
      const at = now();
      const previous = lastAsked.get(userId);
      if (previous !== undefined && at - previous < options.cooldownMs) {
        return {
          kind: 'cooldown',
          retryAfterSeconds: Math.max(1, Math.ceil((options.cooldownMs - (at - previous)) / 1000)),
        };
      }
      if (active >= options.maxConcurrent && waiting.length >= options.maxQueued) return { kind: 'busy' };
      lastAsked.set(userId, at);
      if (lastAsked.size > 10_000)
        for (const [id, time] of lastAsked) if (at - time >= options.cooldownMs) lastAsked.delete(id);
      let position = 0;
      let ready: Promise<void>;
      let started = false;
      let turn: (() => void) | undefined;
      if (active < options.maxConcurrent) {
        active += 1;
        started = true;
        ready = Promise.resolve();
      } else {
        ready = new Promise<void>((resolve) => {
          turn = () => {
            started = true;
            resolve();
          };
          waiting.push(turn);
        });
        position = waiting.length;
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        // A caller that gives up its place before its turn leaves the queue; only a started answer frees a slot.
        if (started) releaseSlot();
        else waiting.splice(waiting.indexOf(turn as () => void), 1);
      };
      return { kind: 'admitted', position, ready, release };
    },
    /** Answers being prepared, including those whose slot is handed over but not yet started. */
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    close() {
      closed = true;
    },
    idle(): Promise<void> {
      return active === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}

export type Limiter = ReturnType<typeof createLimiter>;
