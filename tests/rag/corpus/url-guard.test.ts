import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createSilentLogger } from '../../../src/logger.js';
import { createApp, type App } from '../../../src/main.js';
import { downloadLimited } from '../../../src/rag/corpus/upload.js';
import { classifyAddress, createUrlGuard, type ResolveHost } from '../../../src/rag/corpus/url-guard.js';
import { temporaryDirectory } from '../../helpers/documents.js';

const LOOPBACK = 'refused: this address is the bot’s own machine';
const PRIVATE = 'refused: this address is on a private network';
const LINK_LOCAL = 'refused: this address is link-local (such as a cloud metadata service)';
const UNSPECIFIED = 'refused: this address is unspecified (0.0.0.0 or ::)';
const SCHEME = 'only http and https URLs are accepted';

describe('classifyAddress', () => {
  it.each([
    [
      'loopback',
      ['127.0.0.1', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1'],
    ],
    [
      'private',
      [
        '10.0.0.5',
        '172.16.0.1',
        '172.31.255.255',
        '192.168.1.1',
        '100.64.0.1',
        '100.127.255.255',
        'fc00::1',
        'fd12:3456::1',
        'fec0::1',
        '::ffff:10.0.0.5',
        '::ffff:a00:5',
        '2002:c0a8:101::1',
      ],
    ],
    ['link-local', ['169.254.169.254', '169.254.0.1', 'fe80::1', 'fe80::1%eth0', '::ffff:169.254.169.254']],
    ['unspecified', ['0.0.0.0', '0.1.2.3', '::', '::ffff:0.0.0.0']],
    [
      'reserved',
      ['192.0.2.1', '198.51.100.7', '203.0.113.9', '198.18.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255'],
    ],
    ['reserved', ['2001:db8::1', 'ff02::1', '::7f00:1', '2001::1', 'not an address', '']],
  ])('classifies %s addresses', (kind, addresses) => {
    for (const address of addresses) expect(classifyAddress(address), address).toBe(kind);
  });

  it('lets public addresses through, including those just outside the private ranges', () => {
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '172.32.0.1',
      '172.15.255.255',
      '100.128.0.1',
      '100.63.255.255',
      '169.253.255.255',
      '11.0.0.1',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ])
      expect(classifyAddress(address), address).toBeUndefined();
  });
});

/** A local web server that records the requests it gets; each test sets how it answers. */
function startServer() {
  const requests: { url: string; host: string }[] = [];
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok');
  const server: Server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    handler(req, res);
  });
  return {
    requests,
    server,
    answer(h: typeof handler) {
      handler = h;
    },
  };
}

describe('downloadLimited with a URL guard', () => {
  const web = startServer();
  let port = 0;
  const fetchOptions = { fetch, maxBytes: 4096, timeoutMs: 5000 };
  const allowLocal = createUrlGuard({ allowedNetworks: ['127.0.0.1'] });
  const publicOnly = createUrlGuard();

  beforeAll(async () => {
    web.server.listen(0, '127.0.0.1');
    await once(web.server, 'listening');
    port = (web.server.address() as AddressInfo).port;
  });
  afterEach(() => {
    web.requests.length = 0;
    web.answer((_req, res) => res.end('ok'));
  });
  afterAll(async () => {
    web.server.closeAllConnections();
    web.server.close();
    await once(web.server, 'close');
  });

  it('refuses loopback, private, link-local and unspecified addresses written in any notation, without connecting', async () => {
    const cases: [string, string][] = [
      [`http://127.0.0.1:${port}/`, LOOPBACK],
      [`http://127.0.0.2:${port}/`, LOOPBACK],
      [`http://2130706433:${port}/`, LOOPBACK],
      [`http://0177.0.0.1:${port}/`, LOOPBACK],
      [`http://0x7f.1:${port}/`, LOOPBACK],
      [`http://0x7f000001:${port}/`, LOOPBACK],
      [`http://127.1:${port}/`, LOOPBACK],
      [`http://[::1]:${port}/`, LOOPBACK],
      [`http://[::ffff:7f00:1]:${port}/`, LOOPBACK],
      [`http://[::ffff:127.0.0.1]:${port}/`, LOOPBACK],
      [`http://[0:0:0:0:0:ffff:7f00:1]:${port}/`, LOOPBACK],
      [`https://127.0.0.1:${port}/`, LOOPBACK],
      [`http://0.0.0.0:${port}/`, UNSPECIFIED],
      [`http://0:${port}/`, UNSPECIFIED],
      [`http://[::]:${port}/`, UNSPECIFIED],
      ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', LINK_LOCAL],
      ['http://[fe80::1]/', LINK_LOCAL],
      ['http://[::ffff:a9fe:a9fe]/', LINK_LOCAL],
      ['http://10.0.0.5/', PRIVATE],
      ['http://172.16.3.4/', PRIVATE],
      ['http://192.168.0.1/admin', PRIVATE],
      ['http://100.64.0.1/', PRIVATE],
      ['http://[fd00::1]/', PRIVATE],
      ['http://[::ffff:192.168.0.1]/', PRIVATE],
    ];
    for (const [url, reason] of cases)
      expect(await downloadLimited(url, { ...fetchOptions, guard: publicOnly }), url).toEqual({
        ok: false,
        reason,
      });
    expect(web.requests).toEqual([]);
  });

  it('refuses every scheme but http and https', async () => {
    for (const url of [
      'file:///etc/passwd',
      'ftp://example.com/a.txt',
      'gopher://127.0.0.1:70/',
      'data:text/html,<p>hi</p>',
      'javascript:alert(1)',
      `ws://127.0.0.1:${port}/`,
    ])
      expect(await downloadLimited(url, { ...fetchOptions, guard: publicOnly }), url).toEqual({
        ok: false,
        reason: SCHEME,
      });
  });

  it('checks the addresses a name resolves to before connecting', async () => {
    const resolving =
      (...addresses: [string, number][]): ResolveHost =>
      async () =>
        addresses.map(([address, family]) => ({ address, family }));
    const cases: [ResolveHost, string][] = [
      [resolving(['127.0.0.1', 4]), LOOPBACK],
      [resolving(['10.0.0.5', 4]), PRIVATE],
      [resolving(['::ffff:127.0.0.1', 6]), LOOPBACK],
      [resolving(['::1', 6]), LOOPBACK],
      [resolving(['169.254.169.254', 4]), LINK_LOCAL],
      [resolving(['93.184.216.34', 4], ['127.0.0.1', 4]), LOOPBACK],
    ];
    for (const [resolve, reason] of cases) {
      const guard = createUrlGuard({ resolve });
      expect(await downloadLimited(`http://news.example:${port}/a`, { ...fetchOptions, guard })).toEqual({
        ok: false,
        reason,
      });
    }
    expect(web.requests).toEqual([]);
  });

  it('connects to the very address it checked: an allowed resolution reaches the server under the requested name', async () => {
    const guard = createUrlGuard({
      allowedNetworks: ['127.0.0.0/8'],
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    web.answer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('page'));
    const result = await downloadLimited(`http://news.example:${port}/a`, { ...fetchOptions, guard });
    expect(result).toMatchObject({ ok: true, finalUrl: `http://news.example:${port}/a` });
    expect(web.requests).toEqual([{ url: '/a', host: `news.example:${port}` }]);
  });

  it('is not fooled by DNS rebinding: a name that answers 127.0.0.1, then 127.0.0.2, is refused on the second connection', async () => {
    const answers = ['127.0.0.1', '127.0.0.2'];
    const asked: string[] = [];
    const guard = createUrlGuard({
      allowedNetworks: ['127.0.0.1/32'],
      resolve: async (host) => {
        asked.push(host);
        return [{ address: answers[asked.length - 1] ?? '127.0.0.2', family: 4 }];
      },
    });
    web.answer((req, res) =>
      req.url === '/first'
        ? res.writeHead(302, { location: '/second', connection: 'close' }).end()
        : res.end('second'),
    );
    expect(await downloadLimited(`http://rebind.example:${port}/first`, { ...fetchOptions, guard })).toEqual({
      ok: false,
      reason: LOOPBACK,
    });
    expect(asked).toEqual(['rebind.example', 'rebind.example']);
    expect(web.requests.map((r) => r.url)).toEqual(['/first']);
  });

  it('checks every redirect hop: an allowed server cannot send the download to a forbidden address', async () => {
    const targets = [
      [`http://127.0.0.2:${port}/secret`, `redirected to 127.0.0.2:${port}: ${LOOPBACK}`],
      [`http://[::1]:${port}/secret`, `redirected to [::1]:${port}: ${LOOPBACK}`],
      ['http://169.254.169.254/latest/meta-data/', `redirected to 169.254.169.254: ${LINK_LOCAL}`],
      ['http://2130706434/', `redirected to 127.0.0.2: ${LOOPBACK}`],
      ['file:///etc/passwd', `redirected to file:///etc/passwd: ${SCHEME}`],
    ] as const;
    const guard = createUrlGuard({ allowedNetworks: ['127.0.0.1'] });
    for (const [target, reason] of targets) {
      web.answer((_req, res) => res.writeHead(302, { location: target }).end());
      expect(
        await downloadLimited(`http://127.0.0.1:${port}/go`, { ...fetchOptions, guard }),
        target,
      ).toEqual({
        ok: false,
        reason,
      });
    }
    expect(web.requests.every((r) => r.url === '/go')).toBe(true);
  });

  it('follows relative and absolute redirects to an allowed page, and reports the final address', async () => {
    web.answer((req, res) => {
      if (req.url === '/a') return res.writeHead(301, { location: '/b' }).end();
      if (req.url === '/b') return res.writeHead(307, { location: `http://127.0.0.1:${port}/c` }).end();
      return res.writeHead(200, { 'content-type': 'text/html' }).end('<p>fin</p>');
    });
    const result = await downloadLimited(`http://127.0.0.1:${port}/a`, {
      ...fetchOptions,
      guard: allowLocal,
    });
    expect(result).toMatchObject({
      ok: true,
      contentType: 'text/html',
      finalUrl: `http://127.0.0.1:${port}/c`,
    });
    expect(web.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c']);
  });

  it('stops after five redirects', async () => {
    web.answer((req, res) => res.writeHead(302, { location: `${req.url ?? ''}x` }).end());
    expect(
      await downloadLimited(`http://127.0.0.1:${port}/`, { ...fetchOptions, guard: allowLocal }),
    ).toEqual({
      ok: false,
      reason: 'too many redirects (more than 5)',
    });
    expect(web.requests).toHaveLength(6);
  });

  it('caps the size, declared or streamed, behind a redirect too', async () => {
    web.answer((req, res) => {
      if (req.url === '/declared')
        return res.writeHead(200, { 'content-length': 10_000 }).end('x'.repeat(10_000));
      if (req.url === '/moved') return res.writeHead(302, { location: '/streamed' }).end();
      res.writeHead(200);
      for (let i = 0; i < 10; i += 1) res.write('y'.repeat(1000));
      res.end();
    });
    for (const path of ['/declared', '/moved'])
      expect(
        await downloadLimited(`http://127.0.0.1:${port}${path}`, { ...fetchOptions, guard: allowLocal }),
      ).toEqual({ ok: false, reason: 'larger than the 4 KiB limit' });
  });

  it('gives up on a server that drips bytes forever once the whole download has taken the time allowed', async () => {
    const drips: NodeJS.Timeout[] = [];
    web.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('.'), 20);
      drips.push(drip);
      res.on('close', () => clearInterval(drip));
    });
    const result = await downloadLimited(`http://127.0.0.1:${port}/drip`, {
      fetch,
      maxBytes: 1_000_000,
      timeoutMs: 1000,
      guard: allowLocal,
    });
    for (const drip of drips) clearInterval(drip);
    expect(result).toEqual({ ok: false, reason: `no answer from 127.0.0.1:${port} within 1 s` });
  });
});

describe('QaService.addFromUrl and the URL guard', () => {
  let app: App | undefined;
  let root: { path: string; cleanup: () => Promise<void> } | undefined;
  const web = startServer();
  let port = 0;

  beforeAll(async () => {
    web.server.listen(0, '127.0.0.1');
    await once(web.server, 'listening');
    port = (web.server.address() as AddressInfo).port;
    web.answer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          '<html><body><article><p>Une page interne qui ne doit pas être lue.</p></article></body></html>',
        ),
    );
  });
  afterEach(async () => {
    await app?.close();
    await root?.cleanup();
    web.requests.length = 0;
  });
  afterAll(async () => {
    web.server.closeAllConnections();
    web.server.close();
    await once(web.server, 'close');
  });

  const start = async (env: Record<string, string> = {}) => {
    root = await temporaryDirectory();
    app = await createApp(
      loadConfig({ CORPUS_DIR: join(root.path, 'corpus'), DATA_DIR: join(root.path, 'data'), ...env }),
      createSilentLogger(),
    );
    return app.service;
  };

  it('refuses the local machine by default, by address or by name, and stores nothing', async () => {
    const service = await start();
    for (const url of [`http://127.0.0.1:${port}/page.html`, `http://localhost:${port}/page.html`])
      expect(await service.addFromUrl(url), url).toEqual({ kind: 'invalid', reason: LOOPBACK });
    expect(await service.addFromUrl('http://169.254.169.254/latest/meta-data/')).toEqual({
      kind: 'invalid',
      reason: LINK_LOCAL,
    });
    expect(await service.addFromUrl('file:///etc/passwd')).toEqual({ kind: 'invalid', reason: SCHEME });
    expect(web.requests).toEqual([]);
    expect(service.listDocuments()).toEqual([]);
  });

  it('fetches from a network the administrator allowed in URL_FETCH_ALLOWED_NETWORKS', async () => {
    const service = await start({ URL_FETCH_ALLOWED_NETWORKS: '10.0.0.0/8, 127.0.0.0/8' });
    expect(await service.addFromUrl(`http://127.0.0.1:${port}/page.html`)).toMatchObject({
      kind: 'added',
      document: { id: 'page' },
    });
    expect(await service.addFromUrl(`http://[::1]:${port}/page.html`)).toEqual({
      kind: 'invalid',
      reason: LOOPBACK,
    });
  });
});
