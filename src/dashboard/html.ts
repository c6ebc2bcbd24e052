/**
 * The dashboard's one HTML escaper (the page's placeholders, the sign-in page). The page's script
 * writes with `textContent` and needs none.
 *
 * @internal
 * @module
 */

/**
 * Escapes text for HTML content and quoted attribute values: `& < > " '` become character
 * references.
 *
 * @example
 * ```ts
 * escapeHtml('<img src=x onerror=alert(1)>'); // '&#60;img src=x onerror=alert(1)&#62;'
 * ```
 * @internal
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
