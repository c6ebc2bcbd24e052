import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error that becomes an HTTP response with this status. @internal */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/** Writes a JSON response. @internal */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes an error as `{ error }` JSON. @internal */
export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

/**
 * The request's path and query, relative to the handler's mount point. A target that starts
 * with `//` stays a path (`new URL('//x/', base)` would read `x` as a host name).
 *
 * @internal
 */
export function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  if (target.startsWith('/')) return new URL(`http://localhost${target}`);
  try {
    // The absolute form (`GET http://host/path`), sent to proxies.
    const u = new URL(target);
    return new URL(`http://localhost${u.pathname}${u.search}`);
  } catch {
    throw new HttpError(400, `malformed request target '${target.slice(0, 100)}': send a path such as /api/snapshot`);
  }
}

/**
 * A path safe to redirect to: it stays on this origin (`//evil.example/` or `/\\evil.example`
 * would leave it), with its leading slashes and backslashes collapsed to one `/`.
 *
 * @internal
 */
export function sameOriginPath(path: string): string {
  return `/${path.replace(/^[/\\]+/, '')}`;
}

/**
 * Splits a path (after `/api/`) into its decoded segments.
 *
 * @throws `HttpError` 400 for malformed percent-encoding.
 * @internal
 */
export function decodePathSegments(path: string): string[] {
  return path.split('/').map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new HttpError(400, `malformed percent-encoding in the path segment '${segment.slice(0, 100)}': encode '%' as %25 and non-ASCII text as UTF-8 (encodeURIComponent)`);
    }
  });
}

/** Reads a small JSON body (actions take at most a few fields). @internal */
export async function readJson(req: IncomingMessage, limit = 16_384): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

/** A positive integer query parameter, clamped to `max`. @internal */
export function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new HttpError(400, `'${name}' must be a whole number >= 1`);
  return Math.min(n, max);
}
