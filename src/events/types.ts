/**
 * Compile-time typing of event types: which names are known, what data each takes and gives.
 * Types only; nothing here exists at run time.
 *
 * @module
 */
import type { z } from 'zod';
import type { TaskEventType } from '../tasks/runtime.js';
import type { EventData, EventDataInput, EventType } from './catalog.js';
import type { EventDefinition } from './registry.js';

declare const eventSchema: unique symbol;

/**
 * The type name `defineEvent` returns as `.type`: the string itself at run time, carrying its
 * schema for the compiler, so `publish({ type: InvoicePaid.type, data })` and
 * `registerHandler(InvoicePaid.type, ...)` are typed like `InvoicePaid` itself.
 *
 * @typeParam TType - the name.
 * @typeParam TSchema - its payload schema.
 */
export type TypedEventName<TType extends string = string, TSchema extends z.ZodType = z.ZodType> = TType & {
  /** Compile-time only: the payload schema. */
  readonly [eventSchema]: TSchema;
};

/**
 * Event types known by name to the compiler, beyond the catalog: augment it with the names and
 * payloads of types you publish or handle by name (types of other services, types defined with
 * `createEventSystem({ events })`), and `publish`, `publishMany`, `registerHandler` and
 * `waitForEvent` check them like catalog types.
 *
 * @example
 * ```ts
 * declare module '@procur/event-bus' {
 *   interface EventTypeRegistry {
 *     'invoice.paid': { invoiceId: string; amount: number };
 *   }
 * }
 * ```
 */
export interface EventTypeRegistry {}

/** The payload of the task lifecycle events (`task.sent`, `task.succeeded`, ...). */
export interface TaskEventData {
  /** The task id. */
  taskId: string;
  /** The task name. */
  name: string;
  /** Its queue. */
  queue: string;
  /** The attempt, from 1. */
  attempt?: number;
  /** Other fields of the lifecycle event (result, error, eta, worker, ...). */
  [field: string]: unknown;
}

/** Every event type name the compiler knows: the catalog, the task lifecycle events and {@link EventTypeRegistry}. */
export type KnownEventType = EventType | TaskEventType | (keyof EventTypeRegistry & string);

/** What names an event type: its name, or the definition `defineEvent` returned. */
export type EventRef = string | EventDefinition<string, z.ZodType>;

/**
 * The named fields of a payload type, without its index signature: what a publisher may write.
 * (Catalog schemas accept extra fields from other producers; publishing one is a compile error,
 * so a misspelled optional field such as `budgetMaxx` is caught.)
 */
export type NamedFields<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T as string extends K ? never : number extends K ? never : symbol extends K ? never : K]: T[K] }
    : T;

/**
 * Checks an event type reference: a known name, a definition, a `defineEvent` name and a
 * `string` whose value is only known at run time pass as they are; any other literal becomes
 * {@link KnownEventType}, so a misspelled name is a compile error listing (and suggesting) the
 * known ones.
 */
export type CheckedEventRef<R> = R extends EventDefinition<string, z.ZodType>
  ? R
  : R extends { readonly [eventSchema]: z.ZodType }
    ? R
    : R extends KnownEventType | '*'
      ? R
      : string extends R
        ? R
        : KnownEventType;

/** The payload a publisher passes for an event type reference (`unknown` for a runtime `string`). */
export type PublishData<R> = R extends EventDefinition<string, infer S>
  ? NamedFields<z.input<S>>
  : R extends { readonly [eventSchema]: infer S extends z.ZodType }
    ? NamedFields<z.input<S>>
    : R extends EventType
      ? NamedFields<EventDataInput<R>>
      : R extends TaskEventType
        ? TaskEventData
        : R extends keyof EventTypeRegistry
          ? EventTypeRegistry[R]
          : unknown;

/** The payload a handler receives for an event type reference (extra fields of other producers included). */
export type HandlerData<R> = R extends EventDefinition<string, infer S>
  ? z.output<S>
  : R extends { readonly [eventSchema]: infer S extends z.ZodType }
    ? z.output<S>
    : R extends EventType
      ? EventData<R>
      : R extends TaskEventType
        ? TaskEventData
        : R extends keyof EventTypeRegistry
          ? EventTypeRegistry[R]
          : unknown;
