#!/usr/bin/env node
// Regenerates the README's layout table (between the layout markers) from the
// tree: each top-level folder's role, its hand-written source files and lines,
// and its largest file, so the sizes there are measured, not remembered.
// `node scripts/layout-table.mjs` prints it; `--write` puts it in README.md.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const ROLES = {
  lib: 'what every layer uses: errors, procfs readers, limiter, PRNG, loopback/auth checks',
  bpf: 'the kernel side: `pageloop.bpf.c`, `pageloop.h` (every event layout, once), generated decoders, the native addon, the probes component',
  schemas: 'the wire contract: `.proto` and codecs, JSON Schemas, topics, the ClickHouse tables the sink writes and the dashboards read',
  kafka: 'Kafka client side: settings merged once, produce encoder, crc32c, the local broker state reader',
  clickhouse: 'ClickHouse client side: server URL or embedded engine, errors, SQL, migrations, Native format',
  collectors: 'ring buffers and samplers into `pageloop.events.v1`',
  processors: 'scores, phases, hints, tuner; the exactly-once Kafka runner',
  feedback: "the host's feedback agent: hints into the hint map and the kernel",
  sink: 'every topic into ClickHouse, exactly once',
  dashboards: 'Grafana dashboards as code',
  deploy: 'wiring and starting: the pipeline (once), the stack, local Kafka, HTTP endpoint, Grafana, systemd, Kubernetes',
  cli: 'the `pageloop` command: flags, doctor, the one error-to-exit path',
  bench: 'benchmarks and workloads (results in BENCHMARKS.md, RELIABILITY.md)',
  test: 'test support shared by test files, the layering and lockfile tests',
  scripts: 'setup, build, start, test',
};
const SOURCE = /\.(ts|mjs|c|cc|h|sh)$/;
const GENERATED = /\.generated\.|\/snapshot\//;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', 'build', '.state', 'testdata'].includes(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

const rows = [];
for (const [folder, role] of Object.entries(ROLES)) {
  let count = 0, lines = 0, tests = 0, testLines = 0, largest = ['', 0];
  for (const path of files(join(root, folder))) {
    const rel = path.slice(root.length);
    if (!SOURCE.test(rel) || GENERATED.test(rel)) continue;
    const n = readFileSync(path, 'utf8').split('\n').length - 1;
    if (/\.test\.ts$/.test(rel)) { tests++; testLines += n; continue; }
    count++; lines += n;
    if (n > largest[1]) largest = [rel.slice(folder.length + 1), n];
  }
  rows.push(`| \`${folder}/\` | ${role} | ${count} / ${lines} | ${tests} / ${testLines} | ${largest[0] ? `\`${largest[0]}\` (${largest[1]})` : ''} |`);
}
const table = [
  '| folder | what lives there | source files / lines | test files / lines | largest source file (lines) |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');

if (process.argv.includes('--write')) {
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- layout:begin -->', end = '<!-- layout:end -->';
  const a = text.indexOf(begin), b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md: no ${begin} ... ${end} markers`);
  writeFileSync(readme, `${text.slice(0, a + begin.length)}\n${table}\n${text.slice(b)}`);
} else {
  console.log(table);
}
