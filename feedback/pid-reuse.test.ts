/**
 * A pid reused while a hint is being enforced, on the real kernel: the hint's
 * process dies and a new one is made to take its pid (through
 * /proc/sys/kernel/ns_last_pid) at the two worst moments, right after the
 * enforcer opened its pidfd and right before process_madvise. The new process,
 * which is on the allow-list, must never be acted on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { openHintMap, type HintMap } from '../bpf/hint-map.js';
import { createEnforcer, nativeKernel, type Kernel } from './enforcer.js';
import { feedbackConfig } from './config.js';
import { identityOf, makeHint } from '../test/feedback.js';

const PIN = `/sys/fs/bpf/pageloop-test-pid-reuse-${process.pid}/pl_hints`;
const HOST = `pid-reuse-${process.pid}`;
let map: HintMap;
const strays: number[] = [];
const shells: ChildProcess[] = [];

before(() => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  map = openHintMap(PIN);
});
after(() => {
  map.close();
  for (const pid of strays) spawnSync('kill', ['-9', String(pid)]);
  for (const shell of shells) shell.kill('SIGKILL');
  rmSync(dirname(PIN), { recursive: true, force: true });
});

/** A `sleep` whose parent is a shell that reaps it at once, so its pid is free the moment it dies. */
async function startVictim(): Promise<{ pid: number; shell: ChildProcess }> {
  const shell = spawn('sh', ['-c', 'sleep 600 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
  shells.push(shell);
  const [line] = (await once(shell.stdout!, 'data')) as [Buffer];
  const pid = Number(line.toString().trim());
  strays.push(pid);
  waitForExec(pid);
  return { pid, shell };
}

/** The shell prints $! before its child has exec'd sleep; the allow-list names comm 'sleep'. */
function waitForExec(pid: number): void {
  const until = Date.now() + 5_000;
  for (;;) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // not there yet
    }
    if (comm === 'sleep') return;
    assert.ok(Date.now() < until, `pid ${pid} did not exec sleep within 5 s (comm '${comm}')`);
  }
}

/**
 * Kills pid and starts another `sleep` with the same pid, synchronously (the
 * enforcer is synchronous): ns_last_pid is set to pid - 1 before each fork,
 * retried while something else on the machine takes the pid first.
 */
function reuse(pid: number): number {
  const script = [
    `kill -9 ${pid}`,
    `while [ -e /proc/${pid} ]; do :; done`,
    'i=0',
    'while [ $i -lt 200 ]; do',
    `  echo ${pid - 1} > /proc/sys/kernel/ns_last_pid`,
    '  sleep 600 </dev/null >/dev/null 2>&1 &',
    `  if [ $! -eq ${pid} ]; then echo $!; exit 0; fi`,
    '  kill -9 $!; i=$((i + 1))',
    'done',
    'exit 1',
  ].join('\n');
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, `could not start a process with pid ${pid} again: ${r.stderr}`);
  const reused = Number(r.stdout.trim());
  strays.push(reused);
  waitForExec(reused);
  return reused;
}

/** A hint for one page of the victim's stack, which every sleep has mapped. */
function stackHint(pid: number) {
  const stack = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find((l) => l.endsWith('[stack]'))!;
  const end = parseInt(stack.split('-')[1]!.split(' ')[0]!, 16);
  return makeHint(identityOf(HOST, pid), end - 4096, 4096, 'mark_cold');
}

function enforcerWith(kernel: Kernel) {
  return createEnforcer(feedbackConfig({ host: HOST, hintMapPinPath: PIN, allow: { comms: ['sleep'], executables: [], cgroups: [] } }), { hintMap: map, kernel });
}

test('the hint is acted on when nothing races it (the control: the same hint can succeed)', async () => {
  const v = await startVictim();
  const a = enforcerWith(nativeKernel()).enforce(stackHint(v.pid))!;
  assert.equal(a.outcome, 'applied', a.reason);
  assert.equal(a.bytesAffected, 4096);
});

test('pid reused after the pidfd is opened: the identity check sees the new process and refuses', async () => {
  const v = await startVictim();
  const real = nativeKernel();
  let reusedBy: number | undefined;
  let madvised = 0;
  const kernel: Kernel = {
    ...real,
    pidfdOpen(pid) {
      const fd = real.pidfdOpen(pid);
      reusedBy = reuse(pid);
      return fd;
    },
    processMadvise(fd, ranges, advice) {
      madvised++;
      return real.processMadvise(fd, ranges, advice);
    },
  };
  const hint = stackHint(v.pid);
  const a = enforcerWith(kernel).enforce(hint)!;
  assert.equal(reusedBy, v.pid);
  // The newcomer's start time often equals the victim's (clock ticks of 10 ms),
  // so the refusal may come from the start time or from the pidfd's process
  // being gone; either way it must come before the map write and the act.
  assert.equal(a.outcome, 'refused');
  assert.match(a.reason, /the pid was reused/);
  assert.equal(madvised, 0);
  assert.equal(map.get(v.pid, Math.floor(hint.region!.start / 2 ** 21)), undefined, 'a refused hint is not written into the hint map');
});

test('pid reused within one clock tick (same start time): the pidfd shows its process is gone, and the hint is refused', async () => {
  const v = await startVictim();
  const real = nativeKernel();
  let madvised = 0;
  const hint = stackHint(v.pid);
  const kernel: Kernel = {
    ...real,
    pidfdOpen(pid) {
      const fd = real.pidfdOpen(pid);
      reuse(pid);
      // What a newcomer started in the same 10 ms tick looks like to /proc.
      hint.process.startNs = identityOf(HOST, pid).startNs;
      return fd;
    },
    processMadvise(fd, ranges, advice) {
      madvised++;
      return real.processMadvise(fd, ranges, advice);
    },
  };
  const a = enforcerWith(kernel).enforce(hint)!;
  assert.equal(a.outcome, 'refused');
  assert.match(a.reason, /the pid was reused: .* exited after its pidfd was opened/);
  assert.equal(madvised, 0);
  assert.equal(map.get(v.pid, Math.floor(hint.region!.start / 2 ** 21)), undefined, 'a refused hint is not written into the hint map');
});

test('pid reused between the checks and process_madvise: the pidfd still names the dead process, the kernel answers ESRCH', async () => {
  const v = await startVictim();
  const real = nativeKernel();
  let reusedBy: number | undefined;
  const kernel: Kernel = {
    ...real,
    processMadvise(fd, ranges, advice) {
      reusedBy = reuse(v.pid);
      return real.processMadvise(fd, ranges, advice);
    },
  };
  const a = enforcerWith(kernel).enforce(stackHint(v.pid))!;
  assert.equal(reusedBy, v.pid);
  assert.equal(a.outcome, 'failed');
  assert.equal(a.errno, 3, a.reason); // ESRCH: the old process, not the newcomer
  assert.equal(a.bytesAffected, 0);
  // The newcomer, on the allow-list, lives on under the same pid, untouched.
  assert.equal(readFileSync(`/proc/${v.pid}/comm`, 'utf8').trim(), 'sleep');
});
