/**
 * The typed face of the native addon (bpf/addon/pageloop_addon.cc). The addon
 * does mechanics only; everything here is a direct binding.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PageloopError } from '../lib/errors.js';

export interface ProgramInfo {
  readonly name: string;
  readonly section: string;
  readonly autoload: boolean;
}

export interface MapInfo {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly fd: number;
}

/** What the kernel says about a map pinned under bpffs (bpf_obj_get + info). */
export interface PinnedMapInfo {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

export interface MapEntries {
  readonly keys: Buffer;
  readonly values: Buffer;
  readonly count: number;
  readonly keySize: number;
  /** Bytes per entry in `values`: for per-CPU maps, all CPUs, each rounded to 8. */
  readonly valueSize: number;
}

export interface ProgramStats {
  readonly name: string;
  readonly runCount: number;
  readonly runTimeNs: number;
  readonly recursionMisses: number;
}

export interface RingReaderStats {
  readonly drains: number;
  readonly records: number;
  readonly bytes: number;
  readonly consumeErrors: number;
}

export interface NativeBpfObject {
  setRodata(name: string, value: Buffer): void;
  setAutoload(program: string, autoload: boolean): void;
  setMapMaxEntries(map: string, entries: number): void;
  setMapPinPath(map: string, path: string): void;
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  load(): void;
  attach(program: string): void;
  /** One system-wide perf event per online CPU; returns those CPUs. */
  attachPerfEvent(program: string, type: number, config: number, samplePeriod: number): number[];
  detachAll(): void;
  mapFd(map: string): number;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapEntries(map: string): MapEntries;
  pinMap(map: string, path: string): void;
  unpinMap(map: string): void;
  programStats(): ProgramStats[];
  close(): void;
}

export interface NativeRingReader {
  start(): void;
  stop(): void;
  /** Drains what is in the ring now, synchronously; returns the records delivered. */
  drainNow(): number;
  stats(): RingReaderStats;
  close(): void;
}

export interface NativeAddon {
  BpfObject: new (path: string) => NativeBpfObject;
  /** onBatch receives frames of [u32 length][u32 0][record, padded to 8]. */
  RingReader: new (mapFd: number, onBatch: (batch: Buffer) => void, maxBatchBytes: number) => NativeRingReader;
  possibleCpus(): number;
  /** CLOCK_BOOTTIME in ns, the clock of every event's timestamp. */
  bootTimeNs(): number;
  /** A pidfd for pid (throws with errno ESRCH when it is gone). */
  pidfdOpen(pid: number): number;
  /** process_madvise(2) over (u64 start, u64 length) pairs; returns bytes advised. Throws with errno. */
  processMadvise(pidfd: number, ranges: Buffer, advice: number): number;
  closeFd(fd: number): void;
  /** The layout of the map pinned at path (throws with errno ENOENT when nothing is pinned there). */
  pinnedMapInfo(path: string): PinnedMapInfo;
}

const here = dirname(fileURLToPath(import.meta.url));

/** bpf/build, found from both the source tree and dist/bpf. */
export function buildDir(): string {
  for (const candidate of [join(here, 'build'), join(here, '..', '..', 'bpf', 'build')]) {
    if (existsSync(join(candidate, 'pageloop.bpf.o'))) return candidate;
  }
  throw new PageloopError('not-built', "BPF objects are not built: run 'npm run build' (or 'make -C bpf')");
}

export const bpfObjectPath = (): string => join(buildDir(), 'pageloop.bpf.o');

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(join(buildDir(), 'pageloop_addon.node')) as NativeAddon;
  }
  return cached;
}

/** Errors thrown by the addon carry the errno they came from. */
export function errnoOf(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'errno' in err && typeof err.errno === 'number') return err.errno;
  return undefined;
}
