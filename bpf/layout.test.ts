/**
 * The generated TypeScript layouts against the C compiler's view of
 * bpf/pageloop.h: every struct size and field offset must agree, and the
 * generated file must be current.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layouts } from './layout.generated.js';

const source = new URL('../../bpf/', import.meta.url).pathname;

test('layout.generated.ts is current with pageloop.h', () => {
  execFileSync('node', [join(source, 'gen-layout.mjs'), '--check'], { stdio: 'pipe' });
});

test('every struct size and field offset matches what the C compiler lays out', () => {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "pageloop.h"', 'int main(void) {'];
  const expected: string[] = [];
  for (const s of Object.values(layouts)) {
    lines.push(`  printf("%s size %zu\\n", "${s.name}", sizeof(struct ${s.name}));`);
    expected.push(`${s.name} size ${s.size}`);
    for (const f of s.fields) {
      lines.push(`  printf("%s.%s %zu %zu\\n", "${s.name}", "${f.name}", offsetof(struct ${s.name}, ${f.name}), sizeof(((struct ${s.name} *)0)->${f.name}));`);
      expected.push(`${s.name}.${f.name} ${f.offset} ${f.size}`);
    }
  }
  lines.push('  return 0;', '}');
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-layout-'));
  try {
    writeFileSync(join(dir, 'check.c'), lines.join('\n'));
    execFileSync('cc', ['-I', source, '-o', join(dir, 'check'), join(dir, 'check.c')], { stdio: 'pipe' });
    const actual = execFileSync(join(dir, 'check'), { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(actual, expected);
    assert.ok(expected.length > 100, 'the check covers every field');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
