/**
 * Calls of the dashboard's JSON API, relative to where the dashboard is mounted.
 *
 * @internal
 * @module
 */
import { ACTION_HEADER } from '../shared.js';

/** Where the dashboard is mounted, ending in `/` (the server writes it into the page). */
export const BASE = document.body.getAttribute('data-base') || '/';

/**
 * A JSON API call. POST actions carry {@link ACTION_HEADER} (what the server's cross-site check
 * asks for). Rejects with the server's `error` message on a non-2xx answer.
 */
export async function api<T>(path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method === 'POST') headers[ACTION_HEADER] = '1';
  const r = await fetch(BASE + path, { method, credentials: 'same-origin', headers });
  const body = (await r.json().catch(() => ({}))) as { error?: string };
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body as T;
}
