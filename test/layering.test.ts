/**
 * The layering rule of DESIGN.md, checked over the source import graph:
 * a module imports only from its own folder's layer or below, and a stage
 * never imports another stage. Tests (`*.test.ts`), `test/` and `bench/`
 * sit on top and may import anything; production code never imports them.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Top-level folder to layer. Equal numbers are peers; see STAGES for the peers that must not meet. */
export const LAYERS: Readonly<Record<string, number>> = {
  lib: 0,
  bpf: 1,
  schemas: 2,
  kafka: 3,
  clickhouse: 3,
  collectors: 4,
  processors: 4,
  feedback: 4,
  sink: 4,
  dashboards: 4,
  deploy: 5,
  cli: 6,
  bench: 7,
  test: 7,
  scripts: 7,
};

const STAGES = new Set(['collectors', 'processors', 'feedback', 'sink', 'dashboards']);

const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', '.state']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

const IMPORT = /(?:^|[^\w.])(?:from\s*|import\s*\(\s*|import\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** Relative imports of one file, as repository paths. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) out.push(relative(ROOT, resolve(ROOT, dirname(file), m[2]!)));
  return out;
}

const topOf = (path: string): string => path.split('/')[0]!;
const isTestCode = (path: string): boolean => /\.test\.(ts|mjs|js)$/.test(path) || ['test', 'bench'].includes(topOf(path));

/** Why an import breaks the rule, or undefined when it keeps it. */
export function violation(from: string, to: string): string | undefined {
  const a = topOf(from);
  const b = topOf(to);
  const la = LAYERS[a];
  const lb = LAYERS[b];
  if (la === undefined) return `${from}: folder '${a}' has no layer in LAYERS`;
  if (lb === undefined) return `${from} imports ${to}: folder '${b}' has no layer in LAYERS`;
  if (isTestCode(from)) return undefined;
  if (isTestCode(to)) return `${from} imports test code ${to}`;
  if (a === b) return undefined;
  if (lb > la) return `${from} (${a}, layer ${la}) imports ${to} (${b}, layer ${lb}): an import running back up`;
  if (lb === la && STAGES.has(a)) return `${from} imports ${to}: one stage importing another`;
  if (lb === la) return `${from} imports ${to}: ${a} and ${b} are peers`;
  return undefined;
}

describe('layering', () => {
  it('no import runs back up, and no stage imports another (over every source file)', () => {
    const problems: string[] = [];
    let edges = 0;
    for (const file of sourceFiles(ROOT)) {
      if (!(topOf(file) in LAYERS)) {
        if (file.includes('/')) problems.push(`${file}: folder '${topOf(file)}' has no layer in LAYERS`);
        continue;
      }
      for (const to of importsOf(file, readFileSync(join(ROOT, file), 'utf8'))) {
        edges++;
        const why = violation(file, to);
        if (why) problems.push(why);
      }
    }
    assert.ok(edges > 300, `only ${edges} imports found: is the scan looking at the sources?`);
    assert.deepEqual(problems, []);
  });

  it('the rule itself: up, across stages, into test code; down and within a folder are fine', () => {
    assert.match(violation('lib/a.ts', 'schemas/b.js') ?? '', /back up/);
    assert.match(violation('sink/a.ts', 'processors/b.js') ?? '', /one stage importing another/);
    assert.match(violation('kafka/a.ts', 'clickhouse/b.js') ?? '', /peers/);
    assert.match(violation('deploy/a.ts', 'test/broker.js') ?? '', /test code/);
    assert.match(violation('deploy/a.ts', 'deploy/a.test.js') ?? '', /test code/);
    assert.equal(violation('cli/a.ts', 'lib/b.js'), undefined);
    assert.equal(violation('sink/a.ts', 'sink/b.js'), undefined);
    assert.equal(violation('lib/a.test.ts', 'deploy/b.js'), undefined);
    assert.match(violation('nowhere/a.ts', 'lib/b.js') ?? '', /no layer/);
  });
});
