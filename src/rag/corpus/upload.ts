import path from 'node:path';

/** The kinds of article file the corpus stores, by the extension they are saved under. */
export type UploadKind = '.md' | '.txt' | '.html';

/** Outcome of sniffing an uploaded file. */
export type SniffResult = { ok: true; kind: UploadKind } | { ok: false; reason: string };

const HTML_START =
  /^\s*(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html|head|body|article|main|meta|title)\b/i;
const MAGIC: [string, number[]][] = [
  ['PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['JPEG image', [0xff, 0xd8, 0xff]],
  ['GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['ZIP archive (or .docx)', [0x50, 0x4b, 0x03, 0x04]],
  ['gzip archive', [0x1f, 0x8b]],
];

/**
 * Decides what an uploaded file is from its bytes, not from its declared name or type: HTML when it starts like a
 * page, Markdown when it has front matter or the declared name says Markdown, plain text otherwise. Binary formats,
 * invalid UTF-8 and empty files are refused with a short reason.
 */
export function sniffUpload(fileName: string, bytes: Buffer): SniffResult {
  for (const [name, magic] of MAGIC)
    if (magic.every((b, i) => bytes[i] === b))
      return { ok: false, reason: `this is a ${name}, not a text article` };
  if (bytes.includes(0)) return { ok: false, reason: 'binary content' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'not valid UTF-8 text' };
  }
  if (text.trim() === '') return { ok: false, reason: 'the file is empty' };
  if (HTML_START.test(text.replace(/^\uFEFF/, ''))) return { ok: true, kind: '.html' };
  const declared = path.posix.extname(fileName.replaceAll('\\', '/')).toLowerCase();
  if (/^\uFEFF?---\r?\n/.test(text) || declared === '.md' || declared === '.markdown')
    return { ok: true, kind: '.md' };
  return { ok: true, kind: '.txt' };
}

/** Outcome of a bounded download. */
export type DownloadResult =
  { ok: true; bytes: Buffer; contentType: string; finalUrl: string } | { ok: false; reason: string };

/**
 * Downloads `url` (http or https only) with a size cap and a timeout, reading the body incrementally so an
 * oversized response is cut off rather than buffered.
 */
export async function downloadLimited(
  url: string,
  options: { fetch: typeof fetch; maxBytes: number; timeoutMs: number },
): Promise<DownloadResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return { ok: false, reason: 'only http and https URLs are accepted' };
  let response: Response;
  try {
    response = await options.fetch(parsed, {
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'follow',
    });
  } catch (err) {
    const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    return {
      ok: false,
      reason: timeout
        ? `no answer from ${parsed.host} within ${Math.round(options.timeoutMs / 1000)} s`
        : `could not reach ${parsed.host}`,
    };
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    return { ok: false, reason: `${parsed.host} answered HTTP ${response.status}` };
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    return { ok: false, reason: `larger than the ${formatBytes(options.maxBytes)} limit` };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += (chunk as Uint8Array).byteLength;
      if (size > options.maxBytes) {
        await response.body?.cancel().catch(() => undefined);
        return { ok: false, reason: `larger than the ${formatBytes(options.maxBytes)} limit` };
      }
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
  } catch {
    return { ok: false, reason: `the download from ${parsed.host} was interrupted` };
  }
  return {
    ok: true,
    bytes: Buffer.concat(chunks),
    contentType: response.headers.get('content-type') ?? '',
    finalUrl: response.url || parsed.href,
  };
}

/** `2 MiB`, `512 KiB`, `900 B`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024)
    return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}
