import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { OffHeapTexts } from '../../src/rag/off-heap-text.js';

const sample = (i: number, length: number): string => {
  const words = [
    'Microsoft',
    'a suspendu',
    'l’accès',
    '« Azure »',
    'au ministère',
    'de la Défense',
    '😀',
    'œuvre',
  ];
  let text = `${i}: `;
  while (text.length < length) text += `${words[(i + text.length) % words.length]} `;
  return text.slice(0, length);
};

describe('OffHeapTexts', () => {
  it('keeps every text as it was, across batches and in a last batch too small to move', () => {
    const texts = Array.from({ length: 900 }, (_, i) => sample(i, 1_000 + (i % 7) * 300));
    texts[3] = '';
    texts[10] = 'a lone surrogate \ud800 stays as it is';
    const packer = new OffHeapTexts<{ id: number; text: string }>(1_050_000);
    texts.forEach((text, id) => packer.add({ id, text: text.slice() }));
    const items = packer.finish();
    expect(items.map((item) => item.id)).toEqual(texts.map((_, id) => id));
    expect(items.map((item) => item.text)).toEqual(texts);
    expect(items[10]!.text.charCodeAt(17)).toBe(0xd800);
  });

  it('moves the texts of a large batch outside the heap', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const count = 700;
    const length = 2_000;
    // Flat strings of two-byte characters, as read from the database; only the items hold them.
    const make = () =>
      Array.from({ length: count }, (_, i) => ({ text: Buffer.from(sample(i, length)).toString() }));
    gc();
    const before = process.memoryUsage();
    const packer = new OffHeapTexts<{ text: string }>(count * length);
    for (const item of make()) packer.add(item);
    const items = packer.finish();
    gc();
    const after = process.memoryUsage();
    const bytes = count * length * 2;
    expect(after.external - before.external).toBeGreaterThanOrEqual(bytes);
    expect(after.external - before.external).toBeLessThan(bytes * 2.5);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(bytes / 4);
    expect(items.every((item, i) => item.text === sample(i, length))).toBe(true);
  });
});
