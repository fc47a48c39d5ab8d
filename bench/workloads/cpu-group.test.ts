import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createCpuGroup, usageNsFromCpuStat } from './cpu-group.js';

test('usageNsFromCpuStat reads usage_usec as ns, and names a file without it', () => {
  assert.equal(usageNsFromCpuStat('usage_usec 154285\nuser_usec 84857\nsystem_usec 69428\n'), 154_285_000);
  assert.throws(() => usageNsFromCpuStat('user_usec 1\n'), /cpu\.stat has no usage_usec line/);
});

test('a command spawned in the group runs inside it from its first instruction, and its CPU time is counted after it exits', async () => {
  const group = createCpuGroup(`pageloop-test-${process.pid}`);
  try {
    const before = group.usageNs();
    // Busy for a while, then says which cgroup it is in.
    const child = group.spawn('/bin/sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; cat /proc/self/cgroup'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0);
    const name = group.path.slice(group.path.lastIndexOf('/'));
    assert.match(out, new RegExp(`^0::${name}$`, 'm'), out);
    const used = group.usageNs() - before;
    // The loop alone is tens of ms of CPU; a group that missed the child would read ~0.
    assert.ok(used > 5_000_000, `the group counted ${used} ns`);
    // The child's own accounting agrees: this process's children's CPU (ticks) grew by at least as much, roughly.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const childrenTicks = Number(fields[13]) + Number(fields[14]);
    assert.ok(childrenTicks * 10_000_000 + 20_000_000 >= used, `children's ticks ${childrenTicks} against ${used} ns in the group`);
  } finally {
    group.remove();
  }
  assert.equal(existsSync(group.path), false);
});
