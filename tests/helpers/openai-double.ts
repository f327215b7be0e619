import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local test double of an OpenAI-compatible API on 127.0.0.1 (random port). It records every request, answers
 * each route with a default handler, and lets a test script the next responses of a route (fail the next N calls,
 * answer slowly or never, return malformed JSON, ...). `POST /v1/embeddings` is built in; other routes (the chat
 * endpoint) are added with {@link OpenAIDouble.route}.
 */

/** A request as the double received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/embeddings`. */
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The body parsed as JSON, or `undefined` when it is not JSON. */
  body: unknown;
}

/** What the double answers. */
export interface ScriptedResponse {
  /** Default 200. */
  status?: number;
  /** Serialised as the JSON body. */
  json?: unknown;
  /** Raw body, for malformed answers; wins over `json`. */
  text?: string;
  headers?: Record<string, string>;
  /** Never answer: the client has to time out. The connection is destroyed when the double closes. */
  hang?: boolean;
}

export type RouteHandler = (request: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>;

/** A one-shot scripted answer: fixed, or computed from the request. */
export type Scripted = ScriptedResponse | RouteHandler;

export interface OpenAIDoubleOptions {
  /** Length of the vectors of the default embeddings route (default 16). */
  embeddingDimensions?: number;
  /** Return the embeddings `data` out of order (reversed), as the API allows: clients must sort by `index`. */
  shuffleEmbeddings?: boolean;
}

export interface OpenAIDouble {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseURL: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Settings of the default embeddings route; tests may change them between calls. */
  readonly embeddings: { dimensions: number; shuffle: boolean };
  /** The requests received on one path. */
  requestsTo(path: string): RecordedRequest[];
  /** Sets the default handler of `METHOD path` (replacing any previous one). */
  route(method: string, path: string, handler: RouteHandler): void;
  /** Queues one-shot answers for the next requests on `path`, consumed in order before the default handler. */
  script(path: string, ...responses: Scripted[]): void;
  /** The next `count` requests on `path` get `status`, with an OpenAI-style error body and optional `Retry-After`. */
  failNext(
    path: string,
    count: number,
    status: number,
    options?: { retryAfter?: string; message?: string },
  ): void;
  /** The next `count` requests on `path` never get an answer. */
  hangNext(path: string, count: number): void;
  close(): Promise<void>;
}

/** A deterministic unit vector for a text: the same text always gives the same vector. */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  const values: number[] = [];
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + 0x6d2b79f5;
    const v = ((h >>> 0) / 0xffffffff) * 2 - 1;
    values.push(v);
    norm += v * v;
  }
  return values.map((v) => v / Math.sqrt(norm));
}

/** An OpenAI embeddings response body for `inputs`. */
export function embeddingsResponse(
  inputs: string[],
  dimensions: number,
  options: { shuffle?: boolean; model?: string } = {},
): unknown {
  const data = inputs.map((text, index) => ({
    object: 'embedding',
    index,
    embedding: fakeEmbedding(text, dimensions),
  }));
  if (options.shuffle) data.reverse();
  return {
    object: 'list',
    model: options.model ?? 'fake-embedding',
    data,
    usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
  };
}

/** The `input` of an embeddings request as an array of strings. */
export function embeddingInputs(request: RecordedRequest): string[] {
  const input = (request.body as { input?: unknown } | undefined)?.input;
  if (typeof input === 'string') return [input];
  return Array.isArray(input) ? input.map(String) : [];
}

const errorBody = (status: number, message: string) => ({
  error: { message, type: status === 429 ? 'rate_limit_error' : 'api_error', code: status },
});

/** Starts the double. Close it in `afterEach`/`afterAll`. */
export async function startOpenAIDouble(options: OpenAIDoubleOptions = {}): Promise<OpenAIDouble> {
  const requests: RecordedRequest[] = [];
  const routes = new Map<string, RouteHandler>();
  const scripts = new Map<string, Scripted[]>();
  const embeddings = {
    dimensions: options.embeddingDimensions ?? 16,
    shuffle: options.shuffleEmbeddings ?? false,
  };

  routes.set('POST /v1/embeddings', (request) => {
    const inputs = embeddingInputs(request);
    if (inputs.length === 0) return { status: 400, json: errorBody(400, "'input' is required") };
    const model = (request.body as { model?: unknown }).model;
    return {
      json: embeddingsResponse(inputs, embeddings.dimensions, {
        shuffle: embeddings.shuffle,
        model: String(model),
      }),
    };
  });

  const send = (res: ServerResponse, answer: ScriptedResponse) => {
    if (answer.hang) return;
    const body = answer.text ?? (answer.json === undefined ? '' : JSON.stringify(answer.json));
    res.writeHead(answer.status ?? 200, {
      'content-type': answer.text === undefined ? 'application/json' : 'text/plain',
      ...answer.headers,
    });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = rawBody === '' ? undefined : JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const request: RecordedRequest = {
        method: req.method ?? 'GET',
        path,
        headers: req.headers,
        rawBody,
        body,
      };
      requests.push(request);
      const next = scripts.get(path)?.shift();
      const handler = routes.get(`${request.method} ${path}`);
      const answer: Promise<ScriptedResponse> = next
        ? Promise.resolve(typeof next === 'function' ? next(request) : next)
        : handler
          ? Promise.resolve(handler(request))
          : Promise.resolve({ status: 404, json: errorBody(404, `no route ${request.method} ${path}`) });
      answer.then(
        (a) => send(res, a),
        (err: unknown) => send(res, { status: 500, json: errorBody(500, String(err)) }),
      );
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  const script = (path: string, ...responses: Scripted[]) => {
    const queue = scripts.get(path) ?? [];
    queue.push(...responses);
    scripts.set(path, queue);
  };

  return {
    origin,
    baseURL: `${origin}/v1`,
    requests,
    embeddings,
    requestsTo: (path) => requests.filter((r) => r.path === path),
    route: (method, path, handler) => void routes.set(`${method.toUpperCase()} ${path}`, handler),
    script,
    failNext: (path, count, status, opts = {}) =>
      script(
        path,
        ...Array.from({ length: count }, () => ({
          status,
          json: errorBody(status, opts.message ?? `scripted failure ${status}`),
          ...(opts.retryAfter !== undefined ? { headers: { 'retry-after': opts.retryAfter } } : {}),
        })),
      ),
    hangNext: (path, count) => script(path, ...Array.from({ length: count }, () => ({ hang: true }))),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
