/**
 * `pageloop record --command` on the real kernel: a command that outlives
 * --duration is stopped with everything it started, and the recording ends
 * cleanly (it used to linger on the command's stdio until the 5 s guard).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

// Named by URL so scripts/test-kinds.mjs sees the command it spawns.
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

test('record --duration 1 --command CMD: a command still running at the end is stopped, with its children, and record exits 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-record-'));
  try {
    const out = join(dir, 'r.plrec');
    const pidFile = join(dir, 'child.pid');
    // The shell starts a child of its own that would outlive a signal to the shell alone.
    const r = spawnSync(process.execPath, [MAIN, 'record', '--out', out, '--duration', '1', '--command', `sleep 300 & echo $! > ${pidFile}; wait`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal ?? 'none'}): ${r.stderr}`);
    assert.match(r.stderr, /the command was still running when the recording ended .*: stopped it/);
    assert.doesNotMatch(r.stderr, /still running 5 s after the command ended/);
    assert.ok(existsSync(out), 'the recording was written');
    const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
    assert.ok(sleeper > 0);
    const stat = (() => {
      try {
        return readFileSync(`/proc/${sleeper}/stat`, 'utf8');
      } catch {
        return undefined;
      }
    })();
    assert.ok(stat === undefined || / [ZX] /.test(stat), `the command's child ${sleeper} is gone: ${stat ?? ''}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record --command CMD: the command ending first ends the recording with its status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-record-'));
  try {
    const r = spawnSync(process.execPath, [MAIN, 'record', '--out', join(dir, 'r.plrec'), '--duration', '60', '--command', 'exit 3'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /stopped it/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
