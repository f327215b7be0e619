import { describe, expect, it } from 'vitest';
import { createConversationMemory } from '../../src/bot/conversations.js';
import { createLimiter } from '../../src/bot/limiter.js';

describe('createLimiter', () => {
  it('admits up to the cap, queues the rest in order with their position, and never drops silently', async () => {
    const limiter = createLimiter({ maxConcurrent: 2, maxQueued: 2, cooldownMs: 0 });
    const admitted = ['a', 'b', 'c', 'd'].map((u) => limiter.tryAcquire(u));
    expect(admitted.map((a) => (a.kind === 'admitted' ? a.position : a.kind))).toEqual([0, 0, 1, 2]);
    expect(limiter.tryAcquire('e')).toEqual({ kind: 'busy' });
    const order: string[] = [];
    const [, , c, d] = admitted;
    if (c?.kind === 'admitted') void c.ready.then(() => order.push('c'));
    if (d?.kind === 'admitted') void d.ready.then(() => order.push('d'));
    if (admitted[0]?.kind === 'admitted') admitted[0].release();
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual(['c']);
    if (admitted[1]?.kind === 'admitted') admitted[1].release();
    if (d?.kind === 'admitted') await d.ready;
    expect(order).toEqual(['c', 'd']);
  });

  it('takes a queued caller that gives up out of the queue without freeing a slot it never had', async () => {
    const limiter = createLimiter({ maxConcurrent: 1, maxQueued: 2, cooldownMs: 0 });
    const a = limiter.tryAcquire('a');
    const b = limiter.tryAcquire('b');
    const c = limiter.tryAcquire('c');
    if (a.kind !== 'admitted' || b.kind !== 'admitted' || c.kind !== 'admitted')
      throw new Error('not admitted');
    let bStarted = false;
    void b.ready.then(() => (bStarted = true));
    c.release();
    await Promise.resolve();
    expect(limiter.active).toBe(1);
    expect(limiter.queued).toBe(1);
    expect(bStarted).toBe(false);
    a.release();
    await b.ready;
    expect(bStarted).toBe(true);
    expect(limiter.queued).toBe(0);
    b.release();
    expect(limiter.active).toBe(0);
  });

  it('makes a user wait for the cooldown, telling how long', () => {
    let now = 1000;
    const limiter = createLimiter({ maxConcurrent: 5, maxQueued: 5, cooldownMs: 5000, now: () => now });
    expect(limiter.tryAcquire('u').kind).toBe('admitted');
    now += 2100;
    expect(limiter.tryAcquire('u')).toEqual({ kind: 'cooldown', retryAfterSeconds: 3 });
    expect(limiter.tryAcquire('other').kind).toBe('admitted');
    now += 3000;
    expect(limiter.tryAcquire('u').kind).toBe('admitted');
  });

  it('refuses new work once closed and resolves idle when the work in flight is done', async () => {
    const limiter = createLimiter({ maxConcurrent: 1, maxQueued: 1, cooldownMs: 0 });
    const first = limiter.tryAcquire('a');
    limiter.close();
    expect(limiter.tryAcquire('b')).toEqual({ kind: 'closed' });
    let idle = false;
    const waiting = limiter.idle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    if (first.kind === 'admitted') first.release();
    await waiting;
    expect(idle).toBe(true);
  });
});

describe('createConversationMemory', () => {
  it('keeps the last turns per user and forgets them after the time to live', () => {
    let now = 0;
    const memory = createConversationMemory({ turns: 2, ttlMs: 60_000, now: () => now });
    memory.remember('u', 'q1');
    memory.remember('u', 'q2');
    memory.remember('u', 'q3');
    memory.remember('v', 'other');
    expect(memory.context('u')).toEqual(['q2', 'q3']);
    now += 60_001;
    expect(memory.context('u')).toEqual([]);
  });

  it('is bounded in users, forgetting the least recently active', () => {
    const memory = createConversationMemory({ turns: 1, ttlMs: 60_000, maxUsers: 2 });
    memory.remember('a', '1');
    memory.remember('b', '2');
    memory.remember('a', '3');
    memory.remember('c', '4');
    expect(memory.context('b')).toEqual([]);
    expect(memory.context('a')).toEqual(['3']);
    expect(memory.size).toBe(2);
  });
});
