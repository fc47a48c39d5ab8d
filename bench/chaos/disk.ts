/**
 * The disk-full fault: the sink's ClickHouse data directory is a small tmpfs
 * of its own (mounted by the harness, which runs as root), so "the disk is
 * full" is the sink's disk only, never the machine's shared root file system.
 * fill() writes a filler file until ENOSPC; free() removes it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SmallDisk {
  readonly dir: string;
  /** Fills the file system; resolves with the bytes written. */
  fill(): number;
  free(): void;
  /** Bytes free right now. */
  available(): number;
  unmount(): void;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

export function mountSmallDisk(dir: string, mib: number): SmallDisk {
  mkdirSync(dir, { recursive: true });
  run('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'pageloop-chaos', dir]);
  const filler = join(dir, 'chaos-filler');
  let mounted = true;
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'w');
      let written = 0;
      try {
        // Big chunks first, then pages, so the last free page goes too.
        for (const size of [4 << 20, 4096]) {
          const chunk = Buffer.alloc(size, 0xa5);
          for (;;) {
            try {
              const n = writeSync(fd, chunk);
              written += n;
              if (n < size) break;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    available() {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      // Lazy: a process still holding a file there (a sink the cleanup is killing) must not keep the mount.
      spawnSync('umount', ['-l', dir]);
    },
  };
}
