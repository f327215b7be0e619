import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local test double of an OpenAI-compatible API on 127.0.0.1 (random port). It records every request, answers
 * each route with a default handler, and lets a test script the next responses of a route (fail the next N calls,
 * answer slowly or never, return malformed JSON, ...). `POST /v1/embeddings` is built in, and so is the chat
 * endpoint (`POST /v1/chat/completions`, also served at `/chat/completions`), which speaks the real wire protocol,
 * JSON or server-sent events, and whose replies a test decides with {@link OpenAIDouble.chat} and
 * {@link OpenAIDouble.scriptChat}. Other routes are added with {@link OpenAIDouble.route}.
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

/** The paths of the chat endpoint: with `/v1`, and without for servers whose base URL has no version. */
export const CHAT_PATHS = ['/v1/chat/completions', '/chat/completions'] as const;

/** A chat request as the double understood it. */
export interface ChatRequest {
  /** The messages, each content flattened to text (text parts of an array content joined). */
  messages: { role: string; content: string }[];
  /** `stream: true` in the body: the reply is sent as server-sent events. */
  stream: boolean;
  /** The parsed JSON body (model, temperature, stream_options, ...). */
  body: any;
  path: string;
  headers: IncomingHttpHeaders;
}

/** How the double answers one chat request. */
export type ChatReply =
  | {
      /** The assistant message: one JSON completion, or SSE deltas when the request streams. */
      content: string;
      /** Characters per SSE delta (default 12). */
      chunkSize?: number;
      /** Wait before answering (before the headers are sent). */
      delayMs?: number;
      /** Wait between SSE chunks (after the headers are sent). */
      chunkDelayMs?: number;
    }
  | {
      /** An error status, with `body` (default: an OpenAI-style error body) and an optional `Retry-After` in seconds. */
      status: number;
      body?: unknown;
      retryAfter?: number;
    }
  /** Never answer: the client has to time out. The connection is destroyed when the double closes. */
  | { hang: true }
  /** A raw body sent with 200 and the content type the request expects (JSON, or event-stream when streaming). */
  | { garbage: string };

/** Decides the reply to a chat request when no one-shot reply is queued. */
export type ChatHandler = (request: ChatRequest) => ChatReply | Promise<ChatReply>;

/** The content deltas the double streams for `content`: consecutive slices of `size` characters (default 12). */
export function chatDeltas(content: string, size = 12): string[] {
  const step = Math.max(1, Math.floor(size));
  const deltas: string[] = [];
  for (let i = 0; i < content.length; i += step) deltas.push(content.slice(i, i + step));
  return deltas;
}

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
  /**
   * Sets the fallback of the chat endpoint (replacing any previous one); the default answers `{ content: 'OK' }`.
   * One-shot replies queued with {@link scriptChat} are used first.
   */
  chat(handler: ChatHandler): void;
  /**
   * Queues one-shot replies for the next chat requests (on either chat path), consumed in order before the handler.
   * Generic {@link script}/{@link failNext}/{@link hangNext} answers queued on a chat path still come first.
   */
  scriptChat(...replies: ChatReply[]): void;
  /** The chat requests received (both chat paths), in order, parsed. */
  chatRequests(): ChatRequest[];
  /** Destroys open connections (hanging or streaming replies included) and pending reply timers, then stops. */
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

const isChatPath = (path: string) => (CHAT_PATHS as readonly string[]).includes(path);

function flattenContent(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((part: unknown) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        return p?.type === 'text' && typeof p.text === 'string' ? p.text : '';
      })
      .join('');
  return content == null ? '' : JSON.stringify(content);
}

/** The {@link ChatRequest} view of a recorded chat request. */
export function toChatRequest(request: RecordedRequest): ChatRequest {
  const body = (request.body ?? {}) as { messages?: unknown; stream?: unknown };
  const messages = Array.isArray(body.messages)
    ? body.messages.map((m: unknown) => {
        const message = m as { role?: unknown; content?: unknown } | null;
        return { role: String(message?.role ?? ''), content: flattenContent(message?.content) };
      })
    : [];
  return { messages, stream: body.stream === true, body, path: request.path, headers: request.headers };
}

const countWords = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Starts the double. Close it in `afterEach`/`afterAll`. */
export async function startOpenAIDouble(options: OpenAIDoubleOptions = {}): Promise<OpenAIDouble> {
  const requests: RecordedRequest[] = [];
  const routes = new Map<string, RouteHandler>();
  const scripts = new Map<string, Scripted[]>();
  const embeddings = {
    dimensions: options.embeddingDimensions ?? 16,
    shuffle: options.shuffleEmbeddings ?? false,
  };
  const chatScript: ChatReply[] = [];
  let chatHandler: ChatHandler = () => ({ content: 'OK' });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  /** Resolves after `ms`, or never when the double closes first (the reply is then abandoned). */
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

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

  const sendChat = async (res: ServerResponse, request: ChatRequest, reply: ChatReply): Promise<void> => {
    if ('hang' in reply) return;
    if ('status' in reply) {
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        ...(reply.retryAfter !== undefined ? { 'retry-after': String(reply.retryAfter) } : {}),
      });
      res.end(JSON.stringify(reply.body ?? errorBody(reply.status, `scripted failure ${reply.status}`)));
      return;
    }
    if ('garbage' in reply) {
      res.writeHead(200, { 'content-type': request.stream ? 'text/event-stream' : 'application/json' });
      res.end(reply.garbage);
      return;
    }
    if (reply.delayMs) await wait(reply.delayMs);
    if (res.destroyed) return;
    const id = `chatcmpl-double-${Math.random().toString(36).slice(2, 10)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof request.body?.model === 'string' ? (request.body.model as string) : 'fake-chat';
    const promptTokens = request.messages.reduce((n, m) => n + countWords(m.content), 0);
    const completionTokens = countWords(reply.content);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    if (!request.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: 'stop' },
          ],
          usage,
        }),
      );
      return;
    }
    const event = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
      index: 0,
      delta: d,
      finish_reason: finish,
    });
    const events = [
      event([delta({ role: 'assistant', content: '' })]),
      ...chatDeltas(reply.content, reply.chunkSize).map((piece) => event([delta({ content: piece })])),
      event([delta({}, 'stop')]),
    ];
    const includeUsage = request.body?.stream_options?.include_usage === true;
    if (includeUsage) events.push(event([], { usage }));
    events.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [i, chunk] of events.entries()) {
      if (i > 0 && reply.chunkDelayMs) await wait(reply.chunkDelayMs);
      if (res.destroyed) return;
      res.write(chunk);
    }
    res.end();
  };

  const answerChat = async (res: ServerResponse, request: RecordedRequest): Promise<void> => {
    const chatRequest = toChatRequest(request);
    const scripted = chatScript.shift();
    if (scripted) return sendChat(res, chatRequest, scripted);
    const custom = routes.get(`${request.method} ${request.path}`);
    if (custom) return send(res, await custom(request));
    return sendChat(res, chatRequest, await chatHandler(chatRequest));
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
      if (!next && request.method === 'POST' && isChatPath(path)) {
        answerChat(res, request).catch((err: unknown) => {
          if (!res.headersSent) send(res, { status: 500, json: errorBody(500, String(err)) });
          else res.destroy();
        });
        return;
      }
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

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
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
    chat: (handler) => {
      chatHandler = handler;
    },
    scriptChat: (...replies) => void chatScript.push(...replies),
    chatRequests: () => requests.filter((r) => r.method === 'POST' && isChatPath(r.path)).map(toChatRequest),
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
