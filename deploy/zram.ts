/**
 * A zram swap device, set up when none is active: the tests, the benchmarks
 * and `pageloop up` page cold memory out to it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PageloopError } from '../lib/errors.js';

export interface SwapDevice {
  readonly device: string;
  /** True when this call set the device up (and teardown() will undo it). */
  readonly createdHere: boolean;
  teardown(): void;
}

export function activeSwaps(text = readFileSync('/proc/swaps', 'utf8')): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((d) => d.length > 0);
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = err && typeof err === 'object' && 'stderr' in err ? String(err.stderr) : '';
    throw new PageloopError('zram', `${cmd} ${args.join(' ')} failed: ${stderr.trim() || String(err)}`);
  }
}

/** Ensures /dev/zram0 is an active swap device of sizeMiB (if it was not already active). */
export function ensureZramSwap(sizeMiB = 1024, device = '/dev/zram0'): SwapDevice {
  if (activeSwaps().includes(device)) return { device, createdHere: false, teardown: () => undefined };
  if (!existsSync(device)) {
    run('modprobe', ['zram']);
    if (!existsSync(device)) throw new PageloopError('zram', `${device} does not exist after modprobe zram`);
  }
  const sys = `/sys/block/${device.replace('/dev/', '')}`;
  // A device left configured by an earlier run must be reset before resizing.
  writeFileSync(`${sys}/reset`, '1');
  writeFileSync(`${sys}/disksize`, `${sizeMiB}M`);
  run('mkswap', [device]);
  run('swapon', ['-p', '100', device]);
  return {
    device,
    createdHere: true,
    teardown() {
      run('swapoff', [device]);
      writeFileSync(`${sys}/reset`, '1');
    },
  };
}
