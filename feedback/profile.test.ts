/**
 * `pageloop profile load` and `profile show`, run as the command line runs
 * them, with no Kafka: a profile that names a region by mapping name and
 * offset (taken from an earlier run of the program, so at another address)
 * is loaded into the hint map and collapses the region; show prints it; a
 * profile that fails its schema is refused with the path of the bad field.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readSmaps, smapsFieldInRange } from '../lib/procfs.js';
import { nameMappings, nameOf, readMaps } from './mappings.js';
import { HINT_MAP_ACTION, openHintMap } from '../bpf/hint-map.js';
import { memtouchPath } from '../bench/workloads/memtouch.js';
import type { ShownEntry } from '../cli/commands/profile.js';

const MiB = 1024 * 1024;
const PIN = `/sys/fs/bpf/pageloop-test-profile-${process.pid}/pl_hints`;
const RUNNER = join(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'pageloop-profile-'));
let w: Memtouch;
let hot: number;

function pageloop(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [RUNNER, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
});

after(async () => {
  await w?.exit();
  rmSync(dirname(PIN), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

test('a profile taken from one run, loaded by hand into the next: the hint map holds it and the region is collapsed', async () => {
  // Run 1: where the hot region is, by name.
  const first = await startMemtouch();
  const firstHot = await first.map('hot', 4);
  const named = nameOf(nameMappings(readMaps(first.pid)), firstHot + 2 * MiB)!;
  await first.exit();
  assert.deepEqual(named.name, { kind: 'anon', path: '', ordinal: 0 });
  assert.equal(named.offset, 2 * MiB);
  const profile = {
    version: 1,
    executable: memtouchPath(),
    regions: [{ name: { kind: 'anon', ordinal: named.name.ordinal }, offset: 0, length: 4 * MiB, benefit: { '4': 0, '64': 0.2, '2048': 0.9 } }],
  };
  const file = join(dir, 'memtouch.profile.json');
  writeFileSync(file, JSON.stringify(profile, null, 2));

  // Run 2: another address, the same name.
  w = await startMemtouch();
  hot = await w.map('hot', 4);
  assert.notEqual(hot, firstHot);
  await w.send('touch hot');
  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 0);

  const r = pageloop('profile', 'load', file, '--pid', String(w.pid), '--allow-comm', 'memtouch', '--hint-map', PIN);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`^applied promote anon#0\\+0x0 at 0x${hot.toString(16)} \\(4194304 bytes\\) \\[4194304 bytes, [0-9.]+ ms\\]: process_madvise MADV_COLLAPSE`, 'm'));
  assert.match(r.stderr, /1 of 1 regions applied/);

  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 4096, 'collapsed into 2 MiB pages');
  const map = openHintMap(PIN);
  try {
    const mine = map.entries().filter((e) => e.pid === w.pid).sort((a, b) => a.region - b.region);
    assert.deepEqual(
      mine.map((e) => [e.region, e.action, e.pageSizeKb]),
      [
        [hot / 2 ** 21, HINT_MAP_ACTION.promote, 2048],
        [hot / 2 ** 21 + 1, HINT_MAP_ACTION.promote, 2048],
      ],
    );
  } finally {
    map.close();
  }
});

test('profile show --pid prints what the hint map holds for the process, by mapping name', () => {
  const r = pageloop('profile', 'show', '--pid', String(w.pid), '--hint-map', PIN);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, new RegExp(`^hints for pid ${w.pid} in `));
  assert.match(lines[1]!, new RegExp(`^  0x${hot.toString(16)}-0x${(hot + 2 * MiB).toString(16)} promote 2048 KiB anon#0\\+0x0 start_ns=\\d+ updated_ns=\\d+$`));
  assert.match(lines[2]!, /promote 2048 KiB anon#0\+0x200000 /);
  const json = pageloop('profile', 'show', '--pid', String(w.pid), '--hint-map', PIN, '--json');
  const shown = JSON.parse(json.stdout) as ShownEntry[];
  assert.deepEqual(
    shown.map((e) => [e.start, e.action_name, e.mapping, e.process]),
    [
      [hot, 'promote', 'anon#0+0x0', 'current'],
      [hot + 2 * MiB, 'promote', 'anon#0+0x200000', 'current'],
    ],
  );
});

test('a profile that fails its schema is refused with the path of the bad field, and nothing is loaded', () => {
  const bad = join(dir, 'bad.profile.json');
  writeFileSync(bad, JSON.stringify({ version: 1, regions: [{ name: { kind: 'anon', ordinal: 0 }, offset: -4096, length: 4 * MiB, benefit: { '2048': 1 } }] }));
  const r = pageloop('profile', 'load', bad, '--pid', String(w.pid), '--allow-comm', 'memtouch', '--hint-map', PIN);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^pageloop: ${bad}: profile: /regions/0/offset: must be integer >= 0 \\(got -4096\\)`));
  const file = join(dir, 'file-without-path.json');
  writeFileSync(file, JSON.stringify({ version: 1, regions: [{ name: { kind: 'file' }, offset: 0, length: 4096, benefit: { '2048': 1 } }] }));
  assert.match(pageloop('profile', 'load', file, '--pid', String(w.pid)).stderr, /\/regions\/0\/name\/path: is required/);
});

test('profile load is enforced like any hint: an empty allow-list and an unknown region name are refused and said so', () => {
  const file = join(dir, 'two.profile.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      regions: [
        { name: { kind: 'anon', ordinal: 0 }, offset: 0, length: 2 * MiB, benefit: { '2048': 1 } },
        { name: { kind: 'anon', ordinal: 7 }, offset: 0, length: 2 * MiB, benefit: { '2048': 1 } },
      ],
    }),
  );
  const empty = pageloop('profile', 'load', file, '--pid', String(w.pid), '--hint-map', PIN);
  assert.equal(empty.status, 1);
  assert.match(empty.stdout, /^refused promote anon#0\+0x0 .*: the allow-list is empty: nothing is touched$/m);
  assert.match(empty.stdout, /^refused unspecified .*: profile region 1 anon#7\+0x0 \(2097152 bytes\): no mapping named anon#7 in pid \d+$/m);
});

test('a profile for another executable is refused before anything is looked at', () => {
  const file = join(dir, 'other.profile.json');
  writeFileSync(file, JSON.stringify({ version: 1, executable: '/usr/bin/postgres', regions: [] }));
  const r = pageloop('profile', 'load', file, '--pid', String(w.pid), '--allow-comm', 'memtouch', '--hint-map', PIN);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`the profile is for /usr/bin/postgres, but pid ${w.pid} runs /.*memtouch`));
});
