import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const MODULE = new URL('./run-until.js', import.meta.url).href;

/** A command whose clean stop never ends: a timer keeps it alive through the signal and after it. */
function hangingCommand(graceMs: number) {
  const script = `
    const { untilSignal } = await import(${JSON.stringify(MODULE)});
    const s = untilSignal(${graceMs});
    setInterval(() => {}, 1000);
    process.stdout.write('ready\\n');
    await s.done;
    process.stdout.write('stopping\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const waitFor = async (word: string): Promise<void> => {
    while (!out.includes(word)) await once(child.stdout, 'data');
  };
  return { child, waitFor, stderr: () => err };
}

test('a clean stop that overruns the grace period exits 1 and says so', async () => {
  const c = hangingCommand(300);
  await c.waitFor('ready');
  c.child.kill('SIGTERM');
  const [code] = (await once(c.child, 'exit')) as [number | null];
  assert.equal(code, 1);
  assert.match(c.stderr(), /the clean stop took over 0.3 s: exiting without it/);
});

test('a second signal exits at once with 130', async () => {
  const c = hangingCommand(60_000);
  await c.waitFor('ready');
  c.child.kill('SIGTERM');
  await c.waitFor('stopping');
  // The second-signal listener is installed on the next turn of the loop.
  await new Promise((r) => setTimeout(r, 100));
  c.child.kill('SIGINT');
  const [code] = (await once(c.child, 'exit')) as [number | null];
  assert.equal(code, 130);
  assert.match(c.stderr(), /SIGTERM again: exiting without a clean stop/);
});

test('a signal during the start is kept: the start finishes, then the command stops cleanly (exit 0, not death by the signal)', async () => {
  const script = `
    const { untilSignal } = await import(${JSON.stringify(MODULE)});
    process.stdout.write('starting\\n');
    // The start: a second's work before the command waits for its stop.
    await new Promise((r) => setTimeout(r, 1000));
    process.stdout.write('started\\n');
    await untilSignal().done;
    process.stdout.write('stopped cleanly\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  while (!out.includes('starting')) await once(child.stdout, 'data');
  child.kill('SIGTERM');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.equal(out, 'starting\nstarted\nstopped cleanly\n');
});
