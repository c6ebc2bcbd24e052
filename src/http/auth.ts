import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '@procur/event-bus';
import { ACTION_HEADER } from '../dashboard/shared.js';

/**
 * Credentials of the dashboard: HTTP Basic (`{ username, password }`, or the string
 * `'user:pass'`) or a bearer token (`{ token }`). With a token, a browser opens the page once as
 * `/?token=...`; the dashboard then sets an HttpOnly, SameSite=Strict session cookie (derived from
 * the token, never the token itself) and redirects to the page without the token in its address.
 */
export type DashboardAuth = { username: string; password: string } | { token: string } | string;

/** The cookie that carries a token session. @internal */
export const SESSION_COOKIE = 'procur_dashboard';
export { ACTION_HEADER } from '../dashboard/shared.js';

/** How a request proved who it is. @internal */
export interface Authenticator {
  /** `'basic'` or `'token'`. */
  readonly kind: 'basic' | 'token';
  /** True when the request carries valid credentials. */
  check(req: IncomingMessage): boolean;
  /** For token auth: the cookie value to set when `candidate` is the right token, else `undefined`. */
  sessionFor(candidate: string): string | undefined;
  /** Who is logged in, for display (never a secret). */
  readonly principal: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compares two secrets in constant time (over their SHA-256, so lengths do not leak). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Normalises the `auth` option.
 *
 * @throws `ConfigError` for an empty user, password or token, or a string without `:`.
 * @internal
 */
export function normalizeAuth(auth: DashboardAuth): { username: string; password: string } | { token: string } {
  if (typeof auth === 'string') {
    const i = auth.indexOf(':');
    if (i <= 0 || i === auth.length - 1) throw new ConfigError('--auth', "expected 'user:password' with both parts non-empty");
    return { username: auth.slice(0, i), password: auth.slice(i + 1) };
  }
  if ('token' in auth) {
    if (typeof auth.token !== 'string' || auth.token.length < 8) throw new ConfigError('--token', 'the token must be at least 8 characters');
    return { token: auth.token };
  }
  if (!auth.username || !auth.password) throw new ConfigError('--auth', 'username and password must both be non-empty');
  if (auth.username.includes(':')) throw new ConfigError('--auth', "the username cannot contain ':'");
  return { username: auth.username, password: auth.password };
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** Builds the request check for the configured credentials. @internal */
export function createAuthenticator(auth: DashboardAuth): Authenticator {
  const a = normalizeAuth(auth);
  if ('token' in a) {
    const session = createHash('sha256').update(`procur-dashboard-session:${a.token}`, 'utf8').digest('base64url');
    return {
      kind: 'token',
      principal: 'token',
      check(req) {
        const header = req.headers.authorization ?? '';
        if (/^bearer /i.test(header)) return same(header.slice(7).trim(), a.token);
        const c = cookies(req).get(SESSION_COOKIE);
        return c !== undefined && same(c, session);
      },
      sessionFor(candidate) {
        return same(candidate, a.token) ? session : undefined;
      },
    };
  }
  const expected = `${a.username}:${a.password}`;
  return {
    kind: 'basic',
    principal: a.username,
    check(req) {
      const header = req.headers.authorization ?? '';
      if (!/^basic /i.test(header)) return false;
      let given: string;
      try {
        given = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      } catch {
        return false;
      }
      return same(given, expected);
    },
    sessionFor: () => undefined,
  };
}

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * The host name of a `Host` header (`bus.example:5555` -> `bus.example`, `[::1]:80` -> `::1`),
 * lower-cased, or `undefined` when the header is missing or malformed.
 *
 * @internal
 */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (!header || /[\s/\\@?#]/.test(header)) return undefined;
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Whether a request may be served without credentials, judged by its `Host` header: a page of
 * another site can point its own name at 127.0.0.1 (DNS rebinding) and then read the dashboard
 * as same-origin, but it cannot make the browser send a loopback name or this server's address
 * as `Host`. Accepts loopback names (localhost, 127.0.0.0/8, [::1]), the address the request
 * came in on, and the names in `allowed`. Returns the reason to refuse, or `undefined`.
 *
 * @internal
 */
export function foreignHostReason(req: IncomingMessage, allowed: ReadonlySet<string>): string | undefined {
  const name = hostOfHeader(req.headers.host);
  if (name === undefined) return `the request has no valid Host header`;
  if (isLoopbackHost(name) || allowed.has(name)) return undefined;
  const local = (req.socket.localAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '').toLowerCase();
  if (local && name === local) return undefined;
  return `Host '${name}' is not this dashboard: without auth it answers only to localhost, 127.0.0.1, [::1] and its own address. Add the name to allowedHosts, or turn auth on`;
}

/**
 * Refuses actions that a page of another site could have sent: the request must be a POST with
 * the {@link ACTION_HEADER} header (a cross-site page cannot add a custom header without a CORS
 * preflight, which this server never grants), and when the browser says where it comes from
 * (`Origin`, `Sec-Fetch-Site`) it must be this origin. Returns the reason to refuse, or
 * `undefined`.
 *
 * @internal
 */
export function crossSiteReason(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST') return 'actions must be POST requests';
  if (!req.headers[ACTION_HEADER]) return `actions need the '${ACTION_HEADER}' header`;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `cross-site request refused (sec-fetch-site: ${site})`;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return 'malformed Origin header';
    }
    const forwarded = req.headers['x-forwarded-host'];
    const hosts = [req.headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',').map((h) => h.trim()) : [])];
    if (!hosts.includes(host)) return 'cross-origin request refused';
  } else if (origin === 'null') return 'cross-origin request refused';
  return undefined;
}
