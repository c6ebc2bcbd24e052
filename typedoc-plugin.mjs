// @ts-check
/**
 * A local typedoc plugin: names each module of the reference by its import path
 * (`@procur/event-bus`, `@procur/event-bus/redis`, ...) instead of its source folder, and puts
 * every export into a group by the file that declares it (publishing, consuming, tasks, store,
 * transport, errors, testing), so the reference reads like the package.
 */
import { Comment, CommentTag, Converter, ReflectionKind } from 'typedoc';

/** Entry file (relative to the repository) -> import path. */
const MODULES = {
  'src/index.ts': '@procur/event-bus',
  'src/testing/index.ts': '@procur/event-bus/testing',
  'src/http/index.ts': '@procur/event-bus/http',
  'src/adapter-kit.ts': '@procur/event-bus/adapter-kit',
  'adapters/redis/index.ts': '@procur/event-bus/redis',
  'adapters/postgres/index.ts': '@procur/event-bus/postgres',
  'adapters/sqlite/index.ts': '@procur/event-bus/sqlite',
};

/** Declaring file (relative path, first match wins) -> group. */
const GROUPS = [
  [/^src\/errors\.ts$/, 'Errors'],
  [/^src\/(publisher|outbox|events\/)/, 'Publishing'],
  [/^src\/(consumer|batch-handler|delivery-loop|dlq|replay|hooks)\b/, 'Consuming'],
  [/^src\/(tasks\/|scheduler)/, 'Tasks'],
  [/^(src\/(contracts\/store|event-store-api|store-validation)|adapters\/(sql|postgres|sqlite)\/|adapters\/memory\/memory-store)/, 'Store'],
  [/^(src\/contracts\/transport|adapters\/(redis|memory)\/)/, 'Transport'],
  [/^src\/testing\//, 'Testing'],
  [/^src\/(lifecycle|adapter-kit)/, 'Adapter kit'],
  [/^src\/http\//, 'HTTP'],
  [/^src\/(create-event-system|config|logger|clock|monitor|backoff)\b/, 'System'],
];

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const root = process.cwd().replace(/\\/g, '/') + '/';
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const file = context.getSymbolFromReflection(mod)?.declarations?.[0]?.getSourceFile().fileName.replace(root, '');
      if (file && file in MODULES) mod.name = MODULES[/** @type {keyof typeof MODULES} */ (file)];
      for (const child of /** @type {import('typedoc').DeclarationReflection} */ (mod).children ?? []) {
        if (child.comment?.blockTags.some((t) => t.tag === '@group')) continue;
        const decl = context.getSymbolFromReflection(child)?.declarations?.[0];
        const from = decl?.getSourceFile().fileName.replace(root, '');
        // Everything of the adapter kit is one group, whatever file declares it.
        const group = mod.name.endsWith('/adapter-kit') ? 'Adapter kit' : from && GROUPS.find(([re]) => re.test(from))?.[1];
        if (!group) continue;
        child.comment ??= new Comment();
        child.comment.blockTags.push(new CommentTag('@group', [{ kind: 'text', text: String(group) }]));
      }
    }
  });
}
