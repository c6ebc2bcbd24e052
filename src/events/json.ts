import { EventValidationError, type ValidationIssue } from '../errors.js';

/**
 * Finds why `value` cannot be written as JSON: the first circular reference, `BigInt` or throwing
 * `toJSON` method, with its dotted path under `root` (e.g. `data.a.b`). `undefined` when none is
 * found. Walks the value as `JSON.stringify` does (own enumerable keys, `toJSON` first), so the
 * path names the field the caller has to fix.
 *
 * @internal
 */
export function findJsonIssue(value: unknown, root: string): ValidationIssue | undefined {
  const ancestors: object[] = [];
  const walk = (v: unknown, path: string, key: string): ValidationIssue | undefined => {
    if (typeof v === 'bigint') return { path, message: 'BigInt is not JSON; convert it to a string or a number' };
    if (typeof v !== 'object' || v === null) return undefined;
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      let replaced: unknown;
      try {
        replaced = toJSON.call(v, key);
      } catch (err) {
        return { path, message: `toJSON() threw: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (replaced !== v) return walk(replaced, path, key);
    }
    if (ancestors.includes(v)) return { path, message: 'circular reference' };
    ancestors.push(v);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const issue = walk(v[i], `${path}[${i}]`, String(i));
          if (issue) return issue;
        }
      } else {
        for (const k of Object.keys(v)) {
          let child: unknown;
          try {
            child = (v as Record<string, unknown>)[k];
          } catch (err) {
            return { path: join(path, k), message: `reading the field threw: ${err instanceof Error ? err.message : String(err)}` };
          }
          const issue = walk(child, join(path, k), k);
          if (issue) return issue;
        }
      }
    } finally {
      ancestors.pop();
    }
    return undefined;
  };
  return walk(value, root, '');
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * `JSON.stringify` that refuses what JSON cannot hold with an {@link EventValidationError} naming
 * the field (`data.a.b: circular reference`, `args.n: BigInt is not JSON`) instead of a raw
 * `TypeError`. Used for every event envelope and task message the library writes.
 *
 * @param value - the object to encode (an envelope, a task message).
 * @param subject - the event type or task name, for the error.
 * @param prefix - put before every path, e.g. `[2].` for the third event of a batch.
 * @throws {@link EventValidationError} when the value holds a circular reference, a `BigInt`, or
 *   a `toJSON` or getter that throws.
 * @internal
 */
export function encodeJson(value: unknown, subject: string | undefined, prefix = ''): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    const issue = findJsonIssue(value, '') ?? { path: '', message: `cannot be encoded as JSON: ${(err as Error).message}` };
    const path = issue.path ? `${prefix}${issue.path}` : prefix.replace(/\.$/, '');
    throw new EventValidationError(subject, [{ path, message: issue.message }], { cause: err });
  }
}
