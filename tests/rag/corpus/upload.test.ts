import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadLimited, sniffUpload } from '../../../src/rag/corpus/index.js';

describe('sniffUpload', () => {
  it('trusts the bytes, not the declared name', () => {
    expect(
      sniffUpload('article.txt', Buffer.from('<!DOCTYPE html><html><body><p>Hi</p></body></html>')),
    ).toEqual({ ok: true, kind: '.html' });
    expect(sniffUpload('page.html', Buffer.from('Just a plain sentence.'))).toEqual({
      ok: true,
      kind: '.txt',
    });
    expect(sniffUpload('notes.txt', Buffer.from('---\ntitle: T\n---\nBody'))).toEqual({
      ok: true,
      kind: '.md',
    });
    expect(sniffUpload('notes.md', Buffer.from('# Heading\n\nBody'))).toEqual({ ok: true, kind: '.md' });
  });

  it.each([
    ['a PDF', Buffer.from('%PDF-1.7\n...'), /PDF/],
    ['a PNG named .md', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]), /PNG/],
    ['invalid UTF-8', Buffer.from([0x41, 0xc3, 0x28, 0x42]), /UTF-8/],
    ['NUL bytes', Buffer.from('abc\u0000def'), /binary/],
    ['whitespace only', Buffer.from('  \n\t '), /empty/],
  ])('refuses %s with a reason', (_name, bytes, reason) => {
    const result = sniffUpload('x.md', bytes);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});

describe('downloadLimited', () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/ok')
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
      if (req.url === '/big') return res.writeHead(200).end(Buffer.alloc(5000, 0x61));
      if (req.url === '/chunked') {
        res.writeHead(200);
        for (let i = 0; i < 10; i += 1) res.write(Buffer.alloc(1000, 0x61));
        return res.end();
      }
      if (req.url === '/hang') return;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const get = (path: string, timeoutMs = 5000) =>
    downloadLimited(`${origin}${path}`, { fetch, maxBytes: 4096, timeoutMs });

  it('returns the body and its type', async () => {
    const result = await get('/ok');
    expect(result).toMatchObject({ ok: true, contentType: 'text/html', finalUrl: `${origin}/ok` });
    if (result.ok) expect(result.bytes.toString()).toContain('ok');
  });

  it('refuses bodies over the limit, declared or streamed', async () => {
    expect(await get('/big')).toEqual({ ok: false, reason: 'larger than the 4 KiB limit' });
    expect(await get('/chunked')).toEqual({ ok: false, reason: 'larger than the 4 KiB limit' });
  });

  it('reports HTTP errors, timeouts, bad schemes and unreachable hosts in one line', async () => {
    expect(await get('/missing')).toEqual({ ok: false, reason: `${new URL(origin).host} answered HTTP 404` });
    expect((await get('/hang', 200)) as { reason: string }).toMatchObject({
      reason: expect.stringMatching(/no answer from/),
    });
    expect(await downloadLimited('file:///etc/passwd', { fetch, maxBytes: 10, timeoutMs: 100 })).toEqual({
      ok: false,
      reason: 'only http and https URLs are accepted',
    });
    expect(await downloadLimited('http://127.0.0.1:1/x', { fetch, maxBytes: 10, timeoutMs: 2000 })).toEqual({
      ok: false,
      reason: 'could not reach 127.0.0.1:1',
    });
  });
});
