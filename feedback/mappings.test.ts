/** Mapping names: the rules on fixed text, ASLR shifts, and two real runs of one program. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMappingName, mappingContaining, nameMappings, nameOf, parseMaps, readMaps, resolveRegion, MIN_NAMED_ANON_BYTES } from './mappings.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';

const MiB = 1024 * 1024;

/** A typical process: exe (+ .bss), heap, two big anonymous mappings, libc (+ .bss), small anon, vdso, stack. */
function layout(mmapBase: number, exeBase: number, stackBase: number, extraAnon = false): string {
  const h = (n: number) => n.toString(16);
  const line = (s: number, e: number, perms: string, off: number, inode: number, path: string) =>
    `${h(s)}-${h(e)} ${perms} ${h(off).padStart(8, '0')} 08:01 ${inode}${path ? `                          ${path}` : ''}`;
  const lines = [
    line(exeBase, exeBase + 0x1000, 'r--p', 0, 11, '/usr/bin/app'),
    line(exeBase + 0x1000, exeBase + 0x3000, 'r-xp', 0x1000, 11, '/usr/bin/app'),
    line(exeBase + 0x3000, exeBase + 0x4000, 'rw-p', 0x3000, 11, '/usr/bin/app'),
    line(exeBase + 0x4000, exeBase + 0x4000 + 64 * MiB, 'rw-p', 0, 0, ''), // .bss: a 64 MiB static array
    line(exeBase + 0x10000000, exeBase + 0x10000000 + 0x21000, 'rw-p', 0, 0, '[heap]'),
  ];
  if (extraAnon) lines.push(line(mmapBase - 200 * MiB, mmapBase - 192 * MiB, 'rw-p', 0, 0, '')); // created later, lower
  lines.push(
    line(mmapBase - 128 * MiB, mmapBase - 64 * MiB, 'rw-p', 0, 0, ''), // second big allocation
    line(mmapBase - 32 * MiB, mmapBase, 'rw-p', 0, 0, '[anon:buffer pool]'), // first big allocation
    line(mmapBase + 0x1000, mmapBase + 0x4000, 'rw-p', 0, 0, ''), // small: no name
    line(mmapBase + 0x4000, mmapBase + 0x2c000, 'r--p', 0, 22, '/usr/lib/libc.so.6'),
    line(mmapBase + 0x2c000, mmapBase + 0x180000, 'r-xp', 0x28000, 22, '/usr/lib/libc.so.6'),
    line(mmapBase + 0x180000, mmapBase + 0x182000, 'rw-p', 0x17c000, 22, '/usr/lib/libc.so.6'),
    line(mmapBase + 0x182000, mmapBase + 0x18f000, 'rw-p', 0, 0, ''), // libc .bss
    line(mmapBase + 0x200000, mmapBase + 0x202000, 'r-xp', 0, 0, '[vdso]'),
    line(stackBase, stackBase + 0x21000, 'rw-p', 0, 0, '[stack]'),
  );
  return lines.join('\n') + '\n';
}

const A = layout(0x7f0000000000, 0x555500000000, 0x7ffd00000000);
const B = layout(0x7f3a12400000, 0x5612abc00000, 0x7ffe81234000);

test('parseMaps reads every field', () => {
  const v = parseMaps(A);
  assert.equal(v.length, 14);
  assert.deepEqual(v[1], { start: 0x555500001000, end: 0x555500003000, perms: 'r-xp', fileOffset: 0x1000, inode: 11, path: '/usr/bin/app' });
  assert.equal(v[3]!.path, '');
  assert.equal(v.find((x) => x.path === '[anon:buffer pool]')!.end - v.find((x) => x.path === '[anon:buffer pool]')!.start, 32 * MiB);
});

test('names: heap, stack, file images, .bss anchored to its file, big anonymous mappings by creation order, the rest unnamed', () => {
  const named = nameMappings(parseMaps(A));
  const label = (path: string, nth = 0) => {
    const v = named.filter((x) => x.path === path)[nth]!;
    return v.name ? `${formatMappingName(v.name)}+${(v.start - v.base).toString(16)}` : '-';
  };
  assert.equal(label('/usr/bin/app', 1), 'file:/usr/bin/app+1000');
  assert.equal(label('', 0), 'anon:/usr/bin/app#0+0'); // the 64 MiB .bss
  assert.equal(label('[heap]'), 'heap+0');
  assert.equal(label('[anon:buffer pool]'), 'anon#0+0'); // highest address: created first
  assert.equal(label('', 1), 'anon#1+0');
  assert.equal(label('', 2), '-'); // 12 KiB: too small to count
  assert.equal(label('/usr/lib/libc.so.6', 2), 'file:/usr/lib/libc.so.6+17c000');
  assert.equal(label('', 3), 'anon:/usr/lib/libc.so.6#0+0');
  assert.equal(label('[vdso]'), '-');
  assert.equal(label('[stack]'), 'stack+0');
});

test('the same program under another ASLR layout gets the same names, and each name resolves to its new address', () => {
  const a = nameMappings(parseMaps(A));
  const b = nameMappings(parseMaps(B));
  const probes = [0x555500001100, 0x555500004000 + 5 * MiB, 0x555510000010, 0x7f0000000000 - 31 * MiB, 0x7f0000000000 - 100 * MiB, 0x7f0000000000 + 0x181000];
  for (const addr of probes) {
    const n = nameOf(a, addr)!;
    assert.ok(n, `address 0x${addr.toString(16)} has a name`);
    const there = resolveRegion(b, n.name, n.offset, 4096);
    assert.ok(there.ok, `${formatMappingName(n.name)} resolves in B`);
    const back = nameOf(b, there.start)!;
    assert.deepEqual([back.name, back.offset], [n.name, n.offset]);
  }
  const big = resolveRegion(b, { kind: 'anon', path: '', ordinal: 0 }, 2 * MiB, 4 * MiB);
  assert.deepEqual(big.ok && [big.start, big.end], [0x7f3a12400000 - 30 * MiB, 0x7f3a12400000 - 26 * MiB]);
});

test('a mapping created later does not renumber the ones before it', () => {
  const before = nameMappings(parseMaps(A));
  const after = nameMappings(parseMaps(layout(0x7f0000000000, 0x555500000000, 0x7ffd00000000, true)));
  for (const addr of [0x7f0000000000 - 31 * MiB, 0x7f0000000000 - 100 * MiB]) {
    assert.deepEqual(nameOf(after, addr)!.name, nameOf(before, addr)!.name);
  }
  assert.deepEqual(nameOf(after, 0x7f0000000000 - 195 * MiB)!.name, { kind: 'anon', path: '', ordinal: 2 });
});

test('resolveRegion says why a name does not resolve', () => {
  const named = nameMappings(parseMaps(A));
  const missing = resolveRegion(named, { kind: 'anon', path: '', ordinal: 9 }, 0, 4096);
  assert.deepEqual(missing, { ok: false, reason: 'no mapping named anon#9' });
  const tooLong = resolveRegion(named, { kind: 'anon', path: '', ordinal: 0 }, 30 * MiB, 4 * MiB);
  assert.equal(tooLong.ok, false);
  assert.match(!tooLong.ok ? tooLong.reason : '', /does not fit inside mapping anon#0 \(33554432 bytes\)/);
  // A file image spans its VMAs, but a region must lie inside one of them.
  const across = resolveRegion(named, { kind: 'file', path: '/usr/bin/app', ordinal: 0 }, 0x2000, 0x2000);
  assert.equal(across.ok, false);
  assert.equal(mappingContaining(parseMaps(A), 0x555500001000, 0x2000)?.perms, 'r-xp');
  assert.equal(mappingContaining(parseMaps(A), 0x555500001000, 0x3000), undefined);
  assert.ok(MIN_NAMED_ANON_BYTES === 2 * MiB);
});

test('two real runs of memtouch: the region named in one is found at its new address in the other', async () => {
  const runs = [await startMemtouch(), await startMemtouch()];
  try {
    const bases: number[] = [];
    for (const w of runs) {
      await w.map('small', 1); // under the threshold: must not shift the ordinal
      bases.push(await w.map('hot', 8));
    }
    assert.notEqual(bases[0], bases[1], 'ASLR moved the mapping');
    const first = nameOf(nameMappings(readMaps(runs[0]!.pid)), bases[0]! + 3 * MiB)!;
    assert.deepEqual(first.name, { kind: 'anon', path: '', ordinal: 0 });
    assert.equal(first.offset, 3 * MiB);
    const there = resolveRegion(nameMappings(readMaps(runs[1]!.pid)), first.name, first.offset, 2 * MiB);
    assert.ok(there.ok);
    assert.equal(there.start, bases[1]! + 3 * MiB);
  } finally {
    for (const w of runs) await w.exit();
  }
});
