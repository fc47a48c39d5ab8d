/**
 * The chaos harness's cleanup path on real processes: a detached group with
 * a grandchild is ended whole by killAllNow, and a process that installed
 * installSignalCleanup and is sent SIGTERM runs its cleanup, kills what it
 * tracked and exits 143, leaving nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { killAllNow, trackGroup, tracked } from './children.js';

const CHILDREN = fileURLToPath(new URL('./children.js', import.meta.url));

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

async function gone(pids: number[], ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (pids.every((p) => !alive(p))) return true;
    await sleep(50);
  }
  return false;
}

test('killAllNow ends a tracked group with its grandchild, even when stopped', async () => {
  // sh forks a sleep (the grandchild) and prints its pid.
  const sh = spawn('sh', ['-c', 'sleep 300 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const grandchild = Number(await new Promise<string>((r) => sh.stdout.once('data', (d: Buffer) => r(d.toString().trim()))));
  assert.ok(alive(sh.pid!) && alive(grandchild), 'the group did not start');
  trackGroup(sh.pid!);
  process.kill(-sh.pid!, 'SIGSTOP');
  assert.equal(killAllNow(), 1);
  assert.deepEqual(tracked(), { groups: [], pids: [] });
  assert.ok(await gone([sh.pid!, grandchild]), `left: ${[sh.pid!, grandchild].filter(alive)}`);
});

test('SIGTERM runs the cleanup, kills what is tracked and exits 143', async () => {
  const script = `
    import { spawn } from 'node:child_process';
    import { installSignalCleanup, trackGroup } from ${JSON.stringify(CHILDREN)};
    const c = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    trackGroup(c.pid);
    installSignalCleanup(async () => { process.stdout.write('cleanup\\n'); }, 5000);
    process.stdout.write(c.pid + '\\n');
    setInterval(() => undefined, 1000);
  `;
  const h = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  h.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!/^\d+\n/.test(out)) await sleep(20);
  const sleeper = Number(out.split('\n')[0]);
  assert.ok(alive(sleeper));
  const exit = new Promise<number | null>((r) => h.once('exit', (code) => r(code)));
  h.kill('SIGTERM');
  assert.equal(await exit, 143);
  assert.match(out, /cleanup/);
  assert.ok(await gone([sleeper]), `the tracked child ${sleeper} outlived the SIGTERMed harness`);
});
