/**
 * DOM helpers of the page. Text goes in with `textContent` and attributes with `setAttribute`,
 * never as HTML, so event payloads, task arguments and error messages cannot inject markup.
 *
 * @internal
 * @module
 */

/** A child of {@link el}: an element, text, or nothing. */
export type Child = Node | string | null | undefined;

/** Properties of {@link el}: `text`, `class`, `on<event>` handlers, other attributes. */
export type Props = Record<string, unknown>;

/** The element with this id (the page's markup has every id the script uses). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`dashboard page: no element #${id}`);
  return e as T;
}

/** Creates an element; `text` sets its text, never its HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, kids: Child[] = []): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = String(v);
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v as EventListener);
    else e.setAttribute(k, String(v));
  }
  for (const c of kids) if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

/** A table cell holding `text`, with an optional class and tooltip. */
export function td(text: unknown, cls?: string, title?: string): HTMLTableCellElement {
  return el('td', { text: text === undefined || text === null ? '' : text, class: cls, title });
}

/** Removes every child; returns the node. */
export function clear<T extends Node>(node: T): T {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Creates an SVG element. */
export function svgEl(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** Shows a message at the bottom right for a few seconds. */
export function toast(message: string): void {
  const t = byId('toast');
  t.textContent = message;
  t.className = 'show';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.className = ''), 3500);
}
