#!/usr/bin/env node
// Lists every test file with the real systems it uses, judged from what its
// source imports or spawns, so a contributor knows which tests need root, a
// broker or the engine before running them. `unit` means none of them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const skip = new Set(['node_modules', 'dist', '.git']);
const kinds = [
  ['kernel', /bpf\/(probes|native|hint-map|targets)\.js|createProbes|openProbes|memtouch/],
  ['kafka', /test\/broker\.js|startTestBroker|startTestCluster/],
  ['clickhouse', /clickhouse\/(embedded|client)\.js|createClickHouseClient|from 'chdb'/],
  ['command', /cli\/main\.js/],
];

function* testFiles(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* testFiles(path);
    else if (name.endsWith('.test.ts')) yield path;
  }
}

const rows = [...testFiles(root)].map((path) => {
  const source = readFileSync(path, 'utf8');
  const uses = kinds.filter(([, pattern]) => pattern.test(source)).map(([kind]) => kind);
  return [relative(root, path), uses.length ? uses.join(',') : 'unit'];
}).sort((a, b) => a[0].localeCompare(b[0]));
const width = Math.max(...rows.map(([file]) => file.length));
for (const [file, uses] of rows) console.log(`${file.padEnd(width)}  ${uses}`);
