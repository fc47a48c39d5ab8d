/**
 * The hint map: what the planner wants for each (process, 2 MiB region),
 * pinned under bpffs so that the probes (which tag events with the hint in
 * force), the feedback agent and any fault-time page-size hook share one map.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PageloopError } from '../lib/errors.js';
import { decodeHintKey, decodeHintValue, HINT_KEY_SIZE, HINT_VALUE_SIZE } from './layout.generated.js';
import { bpfObjectPath, loadAddon, type MapInfo, type NativeBpfObject, type PinnedMapInfo } from './native.js';

export const DEFAULT_HINT_MAP_PIN = '/sys/fs/bpf/pageloop/pl_hints';

/** Hint actions as the BPF side stores them (pl_hint_value.action). */
export const HINT_MAP_ACTION = {
  none: 0,
  promote: 1,
  keep_base_pages: 2,
  mark_cold: 3,
  page_out: 4,
  reclaim_cgroup: 5,
} as const;
export type HintMapAction = keyof typeof HINT_MAP_ACTION;

export interface HintMapEntry {
  pid: number;
  /** Region index: address >> regionShift. */
  region: number;
  startNs: number;
  action: number;
  pageSizeKb: number;
  updatedNs: number;
}

export interface HintMap {
  readonly pinPath: string;
  set(entry: HintMapEntry): void;
  delete(pid: number, region: number): boolean;
  get(pid: number, region: number): HintMapEntry | undefined;
  entries(): HintMapEntry[];
  close(): void;
}

export function hintKey(pid: number, region: number): Buffer {
  const b = Buffer.alloc(HINT_KEY_SIZE);
  b.writeUInt32LE(pid, 0);
  b.writeBigUInt64LE(BigInt(region), 8);
  return b;
}

export function hintValue(e: HintMapEntry): Buffer {
  const b = Buffer.alloc(HINT_VALUE_SIZE);
  b.writeBigUInt64LE(BigInt(e.startNs), 0);
  b.writeUInt32LE(e.action, 8);
  b.writeUInt32LE(e.pageSizeKb, 12);
  b.writeBigUInt64LE(BigInt(e.updatedNs), 16);
  return b;
}

/** Map operations on a loaded object that has pl_hints (the probes' own, or a maps-only one). */
export function hintMapOn(obj: NativeBpfObject, pinPath: string, onClose: () => void = () => undefined): HintMap {
  const decode = (key: Buffer, value: Buffer, at = 0, vat = 0): HintMapEntry => {
    const k = decodeHintKey(key, at);
    const v = decodeHintValue(value, vat);
    return { pid: k.pid, region: k.region, startNs: v.startNs, action: v.action, pageSizeKb: v.pageSizeKb, updatedNs: v.updatedNs };
  };
  return {
    pinPath,
    set(e) {
      obj.mapUpdate('pl_hints', hintKey(e.pid, e.region), hintValue(e));
    },
    delete(pid, region) {
      return obj.mapDelete('pl_hints', hintKey(pid, region));
    },
    get(pid, region) {
      const key = hintKey(pid, region);
      const v = obj.mapLookup('pl_hints', key);
      return v ? decode(key, v) : undefined;
    },
    entries() {
      const all = obj.mapEntries('pl_hints');
      const out: HintMapEntry[] = [];
      for (let i = 0; i < all.count; i++) out.push(decode(all.keys, all.values, i * all.keySize, i * all.valueSize));
      return out;
    },
    close: onClose,
  };
}

/** Differences between a pinned map and the layout this build expects, in words; empty when it matches. */
export function layoutMismatches(pinned: PinnedMapInfo, expected: Pick<MapInfo, 'type' | 'keySize' | 'valueSize' | 'maxEntries'>): string[] {
  const out: string[] = [];
  for (const field of ['type', 'keySize', 'valueSize', 'maxEntries'] as const) {
    if (pinned[field] !== expected[field]) out.push(`${field} ${pinned[field]} (expected ${expected[field]})`);
  }
  return out;
}

/**
 * Points obj's pl_hints at pinPath before load. The directory is made
 * root-only; a map already pinned there is reused only if it is root's and has
 * this build's layout, so the agent never writes hints into a map someone
 * else planted (libbpf alone would fail with a bare EINVAL).
 */
export function prepareHintMapPin(obj: NativeBpfObject, pinPath: string): void {
  mkdirSync(dirname(pinPath), { recursive: true, mode: 0o700 });
  chmodSync(dirname(pinPath), 0o700);
  if (existsSync(pinPath)) {
    const owner = statSync(pinPath).uid;
    const expected = obj.maps().find((m) => m.name === 'pl_hints');
    if (!expected) throw new PageloopError('hint-map-missing', 'the BPF object has no pl_hints map: rebuild it (make -C bpf)');
    const problems = layoutMismatches(loadAddon().pinnedMapInfo(pinPath), expected);
    if (owner !== 0) problems.unshift(`owner uid ${owner} (expected 0, root)`);
    if (problems.length > 0) {
      throw new PageloopError(
        'hint-map-foreign',
        `${pinPath} is not this pageloop's hint map: ${problems.join(', ')}; remove it (rm ${pinPath}) if it is a stale pin, or set hintMapPinPath elsewhere`,
      );
    }
  }
  obj.setMapPinPath('pl_hints', pinPath);
}

/** After load: only root may open the pin (bpffs gives 0600 by default; this makes it so whatever the umask). */
export function secureHintMapPin(pinPath: string): void {
  chmodSync(pinPath, 0o600);
}

/**
 * Opens the pinned hint map, creating and pinning it if it is not there, by
 * loading pageloop.bpf.o with no program: only its maps come into being.
 */
export function openHintMap(pinPath = DEFAULT_HINT_MAP_PIN): HintMap {
  const addon = loadAddon();
  const obj = new addon.BpfObject(bpfObjectPath());
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, false);
    prepareHintMapPin(obj, pinPath);
    obj.load();
    secureHintMapPin(pinPath);
  } catch (err) {
    obj.close();
    throw err;
  }
  return hintMapOn(obj, pinPath, () => obj.close());
}
