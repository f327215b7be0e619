import path from 'node:path';
import { deriveDocumentId } from './ids.js';
import { refusalOf, type UrlGuard } from './url-guard.js';

/** The kinds of article file the corpus stores, by the extension they are saved under. */
export type UploadKind = '.md' | '.txt' | '.html';

/** Outcome of sniffing an uploaded file. */
export type SniffResult = { ok: true; kind: UploadKind } | { ok: false; reason: string };

const HTML_START =
  /^\s*(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html|head|body|article|main|meta|title)\b/i;
/** A fragment of HTML: read as a page rather than as plain text, which would keep its scripts as words. */
const HTML_FRAGMENT_START =
  /^\s*(?:<!--[\s\S]*?-->\s*)*<(?:link|base|script|style|noscript|template|iframe|svg|div|section|header|nav|p|h[1-6]|table|ul|ol|form|span|a|img)\b/i;
const MAGIC: [string, number[]][] = [
  ['PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['JPEG image', [0xff, 0xd8, 0xff]],
  ['GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['ZIP archive (or .docx)', [0x50, 0x4b, 0x03, 0x04]],
  ['gzip archive', [0x1f, 0x8b]],
];

/** Longest document id derived from a file name (the corpus stores ids of at most 128 characters). */
const MAX_NAME_ID = 128;

/** UTF-16 with a byte order mark, or mostly ASCII text with a NUL byte every other byte. */
function looksLikeUtf16(bytes: Buffer): boolean {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return true;
  const sample = bytes.subarray(0, 512);
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < sample.length; i += 1) {
    if (sample[i] !== 0) continue;
    if (i % 2 === 0) evenNul += 1;
    else oddNul += 1;
  }
  const pairs = Math.floor(sample.length / 2);
  return pairs > 0 && Math.max(evenNul, oddNul) >= pairs * 0.6 && Math.min(evenNul, oddNul) === 0;
}

/**
 * Decides what an uploaded file is from its bytes, not from its declared name or type: HTML when it starts like a
 * page, Markdown when it has front matter or the declared name says Markdown, HTML again when it starts with a tag
 * such as `<script>` or `<p>`, plain text otherwise. Binary formats, UTF-16, invalid UTF-8, empty files and names too long to
 * make a document id are refused with a short reason.
 */
export function sniffUpload(fileName: string, bytes: Buffer): SniffResult {
  for (const [name, magic] of MAGIC)
    if (magic.every((b, i) => bytes[i] === b))
      return { ok: false, reason: `this is a ${name}, not a text article` };
  if (looksLikeUtf16(bytes)) return { ok: false, reason: 'this is UTF-16 text: save it as UTF-8' };
  if (bytes.includes(0)) return { ok: false, reason: 'binary content' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'not valid UTF-8 text (Latin-1 or Windows-1252?): save it as UTF-8' };
  }
  if (deriveDocumentId(fileName).length > MAX_NAME_ID)
    return { ok: false, reason: 'the file name is too long: give the file a shorter name' };
  if (text.trim() === '') return { ok: false, reason: 'the file is empty' };
  if (HTML_START.test(text.replace(/^\uFEFF/, ''))) return { ok: true, kind: '.html' };
  const declared = path.posix.extname(fileName.replaceAll('\\', '/')).toLowerCase();
  if (/^\uFEFF?---\r?\n/.test(text) || declared === '.md' || declared === '.markdown')
    return { ok: true, kind: '.md' };
  if (HTML_FRAGMENT_START.test(text.replace(/^\uFEFF/, ''))) return { ok: true, kind: '.html' };
  return { ok: true, kind: '.txt' };
}

/** Outcome of a bounded download. */
export type DownloadResult =
  { ok: true; bytes: Buffer; contentType: string; finalUrl: string } | { ok: false; reason: string };

/** Options of {@link downloadLimited}. */
export interface DownloadOptions {
  fetch: typeof fetch;
  maxBytes: number;
  /** Time allowed for the whole download: every redirect and the last byte of the body. */
  timeoutMs: number;
  /** When given, every hop must pass it: scheme, IP literals, and the addresses actually connected to. */
  guard?: UrlGuard;
  /** Redirects followed at most. Default 5. */
  maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Downloads `url` (http or https only) with a size cap and one timeout for the whole transfer, reading the body
 * incrementally so an oversized or endless response is cut off rather than buffered. Redirects are followed by hand,
 * at most `maxRedirects`, so that the guard checks every hop. Every failure is a value with a one-line reason.
 */
export async function downloadLimited(url: string, options: DownloadOptions): Promise<DownloadResult> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  const signal = AbortSignal.timeout(options.timeoutMs);
  const tooSlow = (host: string) => `no answer from ${host} within ${Math.round(options.timeoutMs / 1000)} s`;
  const tooBig = `larger than the ${formatBytes(options.maxBytes)} limit`;
  const dispatcher = options.guard?.dispatcher();
  try {
    for (let hop = 0; ; hop += 1) {
      const refused =
        current.protocol === 'http:' || current.protocol === 'https:'
          ? options.guard?.check(current)
          : 'only http and https URLs are accepted';
      if (refused)
        return {
          ok: false,
          reason:
            hop === 0 ? refused : `redirected to ${current.host || current.href.slice(0, 80)}: ${refused}`,
        };
      let response: Response;
      try {
        response = await options.fetch(current, {
          signal,
          redirect: 'manual',
          ...(dispatcher ? { dispatcher: dispatcher as RequestInit['dispatcher'] } : {}),
        });
      } catch (err) {
        const refusal = refusalOf(err);
        if (refusal) return { ok: false, reason: refusal.message };
        return {
          ok: false,
          reason: signal.aborted ? tooSlow(current.host) : `could not reach ${current.host}`,
        };
      }
      const location = response.headers.get('location');
      if (REDIRECTS.has(response.status) && location !== null) {
        await response.body?.cancel().catch(() => undefined);
        if (hop >= (options.maxRedirects ?? 5))
          return { ok: false, reason: `too many redirects (more than ${options.maxRedirects ?? 5})` };
        try {
          current = new URL(location, current);
        } catch {
          return { ok: false, reason: `${current.host} redirected to an invalid address` };
        }
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        return { ok: false, reason: `${current.host} answered HTTP ${response.status}` };
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        await response.body?.cancel().catch(() => undefined);
        return { ok: false, reason: tooBig };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of response.body ?? []) {
          size += (chunk as Uint8Array).byteLength;
          if (size > options.maxBytes) {
            await response.body?.cancel().catch(() => undefined);
            return { ok: false, reason: tooBig };
          }
          chunks.push(Buffer.from(chunk as Uint8Array));
        }
      } catch {
        return {
          ok: false,
          reason: signal.aborted
            ? tooSlow(current.host)
            : `the download from ${current.host} was interrupted`,
        };
      }
      return {
        ok: true,
        bytes: Buffer.concat(chunks),
        contentType: response.headers.get('content-type') ?? '',
        finalUrl: current.href,
      };
    }
  } finally {
    await dispatcher?.destroy().catch(() => undefined);
  }
}

/** `2 MiB`, `512 KiB`, `900 B`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024)
    return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}
