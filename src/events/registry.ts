import type { z } from 'zod';
import { EventValidationError, type ValidationIssue } from '../errors.js';
import { eventSchemas } from './catalog.js';
import type { TypedEventName } from './types.js';

export type * from './types.js';

/** A custom event type and its payload schema, made by {@link defineEvent}. */
export interface EventDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  /** The event type name. */
  readonly type: TType;
  /** The payload schema. */
  readonly schema: TSchema;
}

const TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** What {@link defineEvent} returns: a definition whose `type` carries the schema for the compiler. */
export type DefinedEvent<TType extends string = string, TSchema extends z.ZodType = z.ZodType> = EventDefinition<TypedEventName<TType, TSchema>, TSchema>;

/**
 * Declares a custom event type with a zod payload schema. The definition is registered process
 * wide, so every event system in the process validates the type; pass it to
 * `createEventSystem({ events })` instead when you want it for one system only.
 *
 * The definition (or its `.type`) is typed in `publish`, `publishMany`, `registerHandler` and
 * `waitForEvent`: the data must match the schema's input, and handlers get its output.
 *
 * @throws {@link EventValidationError} when the type name is empty, too long (over 200
 *   characters) or uses characters other than letters, digits and `. _ : -`.
 * @example
 * ```ts
 * const InvoicePaid = defineEvent('invoice.paid', z.object({ invoiceId: z.string(), amount: z.number() }));
 * await bus.publisher.publish({ type: InvoicePaid, data: { invoiceId: 'i-1', amount: 10 } });
 * bus.consumer('billing').registerHandler(InvoicePaid, (event) => event.data.amount);
 * ```
 */
export function defineEvent<const TType extends string, TSchema extends z.ZodType>(type: TType, schema: TSchema): DefinedEvent<TType, TSchema> {
  assertTypeName(type);
  const def = Object.freeze({ type, schema }) as DefinedEvent<TType, TSchema>;
  globalDefinitions.set(type, def);
  return def;
}

/**
 * The type name of an event type reference: the name itself, or a definition's `type`. Anything
 * else is returned as it is (the caller's validation refuses it).
 *
 * @internal
 */
export function eventTypeName(ref: unknown): unknown {
  if (typeof ref === 'object' && ref !== null && typeof (ref as { type?: unknown }).type === 'string' && 'schema' in ref) {
    return (ref as EventDefinition).type;
  }
  return ref;
}

function assertTypeName(type: string): void {
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw new EventValidationError(undefined, [
      {
        path: 'type',
        message: `event type ${JSON.stringify(type)} must be 1-200 characters of letters, digits and . _ : -`,
      },
    ]);
  }
}

const globalDefinitions = new Map<string, EventDefinition>();

/** Converts zod issues into the library's {@link ValidationIssue} list, with `prefix` on each path. */
export function zodIssues(error: z.ZodError, prefix: string): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

/**
 * The event types one system knows: the catalog, process-wide {@link defineEvent} definitions, and
 * the system's own. Resolves a type to its schema and validates payloads.
 */
export class EventRegistry {
  private readonly local = new Map<string, EventDefinition>();

  constructor(
    definitions: readonly EventDefinition[] = [],
    /** Accept event types with no schema (no validation for them). */
    readonly allowUnknownTypes = false,
  ) {
    for (const def of definitions) {
      assertTypeName(def.type);
      this.local.set(def.type, def);
    }
  }

  /** The schema of `type`, or undefined when the type is unknown. */
  schemaOf(type: string): z.ZodType | undefined {
    // Own properties only: 'toString' or '__proto__' must not find Object.prototype members.
    return (
      this.local.get(type)?.schema ??
      (Object.hasOwn(eventSchemas, type) ? (eventSchemas as Record<string, z.ZodType>)[type] : undefined) ??
      globalDefinitions.get(type)?.schema
    );
  }

  /** True when the type is in the catalog or defined. */
  has(type: string): boolean {
    return this.schemaOf(type) !== undefined;
  }

  /**
   * Validates `data` against the schema of `type` and returns the parsed payload, or returns
   * `data` as it is when the type has no schema. One lookup (the consumer's per-event path).
   *
   * @throws {@link EventValidationError} naming each failing field (`data.<field>`).
   */
  validateKnown(type: string, data: unknown): unknown {
    const schema = this.schemaOf(type);
    if (!schema) return data;
    const result = schema.safeParse(data);
    if (!result.success) throw new EventValidationError(type, zodIssues(result.error, 'data'));
    return result.data;
  }

  /**
   * Validates `data` against the schema of `type` and returns the parsed payload.
   *
   * @throws {@link EventValidationError} naming each failing field (`data.<field>`), or `type`
   *   when the type is unknown and unknown types are not allowed.
   */
  validate(type: string, data: unknown): unknown {
    const schema = this.schemaOf(type);
    if (!schema) {
      if (this.allowUnknownTypes) {
        assertTypeName(type);
        return data;
      }
      throw new EventValidationError(type, [
        {
          path: 'type',
          message: `unknown event type '${type}'; register it with defineEvent(type, schema) or pass it in createEventSystem({ events })`,
        },
      ]);
    }
    const result = schema.safeParse(data);
    if (!result.success) throw new EventValidationError(type, zodIssues(result.error, 'data'));
    return result.data;
  }
}
