/**
 * The probe modes from the config file and the flags: each accepted value
 * reaches the probes' config under the name createProbes knows, flags over
 * the file, and each bad value is refused naming its flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { parseArgs } from './args.js';
import { COLLECTOR_FLAGS, collectSettingsFromArgs } from './commands/collect.js';
import { PROBE_MODE_FLAGS, parseProbeModes } from './targets-flags.js';
import { DEFAULT_PROBES_CONFIG, validateProbesConfig } from '../bpf/probes.js';

const FLAGS = [{ name: 'config', kind: 'string' as const, help: '' }, { name: 'brokers', kind: 'list' as const, help: '' }, ...COLLECTOR_FLAGS];

function settingsFor(file: unknown, argv: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-modes-'));
  try {
    const path = join(dir, 'pageloop.json');
    writeFileSync(path, JSON.stringify(file));
    return collectSettingsFromArgs(parseArgs(['--config', path, '--brokers', '127.0.0.1:9092', ...argv], FLAGS)).probes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the file names the modes as the user does; the probes get their own names', () => {
  assert.equal(settingsFor({ probes: { faultMode: 'exact' } }, []).faultMode, 'aggregated');
  assert.equal(settingsFor({ probes: { faultMode: 'aggregated' } }, []).faultMode, 'aggregated');
  assert.equal(settingsFor({ probes: { faultMode: 'sampled' } }, []).faultMode, 'sampled');
  assert.equal(settingsFor({ probes: { faultMode: 'raw' } }, []).faultMode, 'raw');
  const p = settingsFor({ probes: { faultSamplePeriod: 64, promotionMode: 'exact' } }, []);
  assert.equal(p.faultSamplePeriod, 64);
  assert.equal(p.promotionMode, 'exact');
  // Nothing said: the probes' own defaults apply (nothing set here).
  const none = settingsFor({}, []);
  assert.equal(none.faultMode, undefined);
  assert.equal(none.promotionMode, undefined);
  assert.equal(none.faultSamplePeriod, undefined);
});

test('flags override the file', () => {
  const p = settingsFor({ probes: { faultMode: 'exact', promotionMode: 'exact', faultSamplePeriod: 64 } }, ['--fault-mode', 'sampled', '--sample-period', '8', '--promotion-mode', 'counters']);
  assert.equal(p.faultMode, 'sampled');
  assert.equal(p.faultSamplePeriod, 8);
  assert.equal(p.promotionMode, 'counters');
  assert.equal(settingsFor({ probes: { faultMode: 'sampled' } }, ['--fault-mode', 'exact']).faultMode, 'aggregated');
});

test('the ring buffer size: the file key in bytes, the flag in KiB over it, absent leaves the probes default', () => {
  assert.equal(settingsFor({ probes: { ringBufferBytes: 1 << 20 } }, []).ringBufferBytes, 1 << 20);
  assert.equal(settingsFor({ probes: { ringBufferBytes: 1 << 20 } }, ['--ring-buffer-kib', '64']).ringBufferBytes, 64 * 1024);
  assert.equal(settingsFor({}, ['--ring-buffer-kib', '4']).ringBufferBytes, 4096);
  assert.equal(settingsFor({}, []).ringBufferBytes, undefined);
  // What the flag accepts, the probes accept (their validate is the last word on the config).
  for (const kib of [4, 64, 16 * 1024, 1024 * 1024]) {
    assert.doesNotThrow(() => validateProbesConfig({ ...DEFAULT_PROBES_CONFIG, ...parseProbeModes(parseArgs(['--ring-buffer-kib', String(kib)], PROBE_MODE_FLAGS)) }));
  }
});

test('each bad flag value is refused naming the flag', () => {
  const modes = (argv: string[]) => parseProbeModes(parseArgs(argv, PROBE_MODE_FLAGS));
  const refused = (argv: string[], re: RegExp) => assert.throws(() => modes(argv), (e: unknown) => e instanceof UsageError && re.test(e.message));
  refused(['--fault-mode', 'sometimes'], /^--fault-mode: 'sometimes' is not one of sampled, exact, raw$/);
  refused(['--promotion-mode', 'guess'], /^--promotion-mode: 'guess' is not one of counters, exact$/);
  refused(['--sample-period', '0'], /^--sample-period: wants an integer from 1 to 1048576, got 0$/);
  refused(['--sample-period', '1.5'], /^--sample-period/);
  refused(['--sample-period', String(2 ** 21)], /^--sample-period/);
  refused(['--fault-mode', 'exact', '--sample-period', '4'], /^--sample-period: only with --fault-mode sampled/);
  // __proto__ and friends are not modes.
  refused(['--fault-mode', 'toString'], /^--fault-mode/);
  refused(['--ring-buffer-kib', '48'], /^--ring-buffer-kib: wants a power of two from 4 to 1048576 \(whole pages, as the kernel requires\), got 48$/);
  refused(['--ring-buffer-kib', '2'], /^--ring-buffer-kib: .* got 2$/);
  refused(['--ring-buffer-kib', '0'], /^--ring-buffer-kib/);
  refused(['--ring-buffer-kib', '-64'], /^--ring-buffer-kib/);
  refused(['--ring-buffer-kib', '4.5'], /^--ring-buffer-kib/);
  refused(['--ring-buffer-kib', String(2 * 1024 * 1024)], /^--ring-buffer-kib/);
  assert.deepEqual(modes(['--sample-period', '1']), { faultSamplePeriod: 1 });
  assert.deepEqual(modes([]), {});
});
