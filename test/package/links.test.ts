/**
 * Links in the docs that reach users: README.md, docs/*.md and the examples' READMEs. Every
 * relative link and image must point at a file of the repository (and a `#fragment` at a heading
 * of it), and a link from a file that ships in the package must point at a file that ships too, so
 * it still works in node_modules/@procur/event-bus. No network: absolute URLs are not fetched.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Markdown files checked, relative to the root. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const examples = readdirSync(join(root, 'examples'))
    .map((d) => `examples/${d}/README.md`)
    .filter((f) => existsSync(join(root, f)));
  return ['README.md', ...docs, ...examples];
}

/** Markdown with fenced code blocks and inline code blanked out (their brackets are not links). */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '``');
}

/** The targets of inline links and images, `[text](target "title")`. */
export function linksOf(markdown: string): { target: string; image: boolean }[] {
  const out: { target: string; image: boolean }[] = [];
  for (const m of prose(markdown).matchAll(/(!?)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[2]!, image: m[1] === '!' });
  return out;
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to dashes, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = m[1]!
      .replace(/<[^>]+>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** Problems with the relative links of one file; `shipped` is the packed file list, or undefined. */
export function brokenLinks(file: string, markdown: string, exists: (path: string) => boolean, read: (path: string) => string, shipped?: Set<string>): string[] {
  const problems: string[] = [];
  for (const { target, image } of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...: not fetched
    const [rawPath = '', fragment] = target.split('#', 2) as [string, string | undefined];
    const path = rawPath === '' ? file : normalize(join(dirname(file), decodeURIComponent(rawPath))).replace(/\\/g, '/').replace(/\/$/, '');
    if (path.startsWith('..')) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    if (!exists(path)) {
      problems.push(`${file}: ${target} -> ${path} does not exist`);
      continue;
    }
    if (fragment !== undefined && path.endsWith('.md') && !anchorsOf(read(path)).has(fragment)) {
      problems.push(`${file}: ${target} -> no heading #${fragment} in ${path}`);
    }
    // Screenshots stay out of the package (about 560 kB, two thirds of the tarball again): in an
    // installed copy they show as their alt text. Every other link target ships with its page.
    if (!image && shipped?.has(file) && !shipped.has(path) && ![...shipped].some((f) => f.startsWith(`${path}/`))) {
      problems.push(`${file}: ${target} -> ${path} is not in the package ("files" in package.json), so the link breaks once installed`);
    }
  }
  return problems;
}

describe('documentation links', () => {
  it('the checker finds broken paths, anchors and links to files that do not ship', () => {
    const files: Record<string, string> = { 'README.md': '# Title\n## Set up\n', 'docs/a.md': '# A\n## Two words, here\n', 'bench/x.md': '' };
    const exists = (p: string) => p in files || p === 'docs';
    const read = (p: string) => files[p] ?? '';
    const shipped = new Set(['README.md', 'docs/a.md']);
    const md = [
      '[ok](docs/a.md) [ok](docs/a.md#two-words-here) [ok](#set-up) [ok](https://example.com/x) `[not a link](nope.md)`',
      '```', '[in code](nope.md)', '```',
      '[missing](docs/b.md) [bad anchor](docs/a.md#three) [outside](../x.md) [not shipped](bench/x.md) ![img](docs/none.png) ![unshipped image](bench/x.md)',
    ].join('\n');
    expect(brokenLinks('README.md', md, exists, read, shipped)).toEqual([
      'README.md: docs/b.md -> docs/b.md does not exist',
      'README.md: docs/a.md#three -> no heading #three in docs/a.md',
      'README.md: ../x.md points outside the repository',
      'README.md: bench/x.md -> bench/x.md is not in the package ("files" in package.json), so the link breaks once installed',
      'README.md: docs/none.png -> docs/none.png does not exist',
    ]);
  });

  it('README.md, docs/*.md and the examples READMEs have no broken relative links or anchors, in the repository and in the package', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })) as [{ files: { path: string }[] }];
    const shipped = new Set(packed[0].files.map((f) => f.path));
    const exists = (p: string) => existsSync(join(root, p)) && (statSync(join(root, p)).isFile() || statSync(join(root, p)).isDirectory());
    const read = (p: string) => readFileSync(join(root, p), 'utf8');
    const problems = markdownFiles().flatMap((f) => brokenLinks(f, read(f), exists, read, shipped));
    expect(problems).toEqual([]);
    // The docs the README links to are in the package.
    for (const f of markdownFiles().filter((f) => f.startsWith('docs/'))) expect(shipped, relative(root, join(root, f))).toContain(f);
  }, 90_000);
});
