/**
 * Names for memory mappings that survive ASLR, so a region found in one run
 * of a program (a profile, a score) can be found again in the next.
 *
 * A mapping is one line of /proc/PID/maps (a VMA). Its name:
 *
 *   heap   [heap]                          offset from its start
 *   stack  [stack] (the main thread's)     offset from its start
 *   file   {path}: every VMA of that path is one image (an ELF file is
 *          mapped as several segments whose layout relative to each other
 *          is fixed), offset from the lowest of them
 *   anon   two sorts, chosen for what stays put across runs:
 *     - {path, ordinal}: an anonymous VMA that starts exactly where a VMA
 *       of file `path` ends is that file's .bss (static arrays of an HPC
 *       code live there); ordinal counts such VMAs of that path, low to
 *       high address. Any size.
 *     - {ordinal} (path ''): a free-standing anonymous VMA of at least
 *       MIN_NAMED_ANON_BYTES, counted from the HIGHEST address down. The
 *       kernel's default (top-down) mmap layout places each new mapping
 *       below the earlier ones, so this order is creation order: mappings a
 *       program creates later never renumber the ones it created first (a
 *       profile taken at steady state still resolves at start-up). Small
 *       anonymous mappings (ld.so scratch, TLS, guard pages, small malloc
 *       chunks) vary with libraries and environment and cannot hold a
 *       2 MiB page, so they are left out of the count and have no name.
 *   [vdso], [vvar], [vsyscall] and the like have no name: nothing to hint.
 *
 * Limits: a program whose mappings come in a different order from run to
 * run (threads racing to create arenas) gets different ordinals; a VMA the
 * program splits itself (mprotect or madvise(MADV_HUGEPAGE) on part of it)
 * becomes two mappings. pageloop's own actions (MADV_COLLAPSE, MADV_COLD,
 * MADV_PAGEOUT, memory.reclaim) never split a VMA, so they never rename.
 */
import { readFileSync } from 'node:fs';
import type { MappingKind, MappingName } from '../schemas/identity.js';

/** Free-standing anonymous mappings smaller than this get no name (a PMD: the smallest a huge page needs). */
export const MIN_NAMED_ANON_BYTES = 2 * 1024 * 1024;

/** One line of /proc/PID/maps. */
export interface Vma {
  start: number;
  end: number;
  perms: string;
  /** Offset into the file (0 for anonymous memory). */
  fileOffset: number;
  inode: number;
  /** Path, [heap], [stack], [vdso], [anon:NAME], or '' for anonymous memory. */
  path: string;
}

/** A VMA with its ASLR-proof name, if it has one. */
export interface NamedVma extends Vma {
  name?: MappingName;
  /** The address `offset` counts from (for file images, the image's lowest VMA). */
  base: number;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/;

/** Parses /proc/PID/maps text; lines that do not parse are skipped (the kernel never writes them). */
export function parseMaps(text: string): Vma[] {
  const out: Vma[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    out.push({
      start: parseInt(m[1]!, 16),
      end: parseInt(m[2]!, 16),
      perms: m[3]!,
      fileOffset: parseInt(m[4]!, 16),
      inode: Number(m[5]),
      path: m[6] ?? '',
    });
  }
  return out;
}

export function readMaps(pid: number, procRoot = '/proc'): Vma[] {
  return parseMaps(readFileSync(`${procRoot}/${pid}/maps`, 'utf8'));
}

type Sort = 'heap' | 'stack' | 'file' | 'anon' | 'none';

function sortOf(path: string): Sort {
  if (path === '') return 'anon';
  if (path === '[heap]') return 'heap';
  if (path === '[stack]') return 'stack';
  if (path.startsWith('[anon:') || path.startsWith('[anon_shmem:')) return 'anon';
  if (path.startsWith('/')) return 'file';
  return 'none';
}

/** Names every VMA (in address order, as given) under the rules in the module comment. */
export function nameMappings(vmas: readonly Vma[]): NamedVma[] {
  const sorted = [...vmas].sort((a, b) => a.start - b.start);
  const imageBase = new Map<string, number>();
  for (const v of sorted) if (sortOf(v.path) === 'file' && !imageBase.has(v.path)) imageBase.set(v.path, v.start);

  const out: NamedVma[] = sorted.map((v) => ({ ...v, base: v.start }));
  const bssCount = new Map<string, number>();
  const freeAnon: NamedVma[] = [];
  out.forEach((v, i) => {
    const sort = sortOf(v.path);
    if (sort === 'heap' || sort === 'stack') {
      v.name = { kind: sort, path: '', ordinal: 0 };
    } else if (sort === 'file') {
      v.name = { kind: 'file', path: v.path, ordinal: 0 };
      v.base = imageBase.get(v.path)!;
    } else if (sort === 'anon') {
      const prev = i > 0 ? out[i - 1]! : undefined;
      if (prev && prev.end === v.start && sortOf(prev.path) === 'file') {
        const n = bssCount.get(prev.path) ?? 0;
        bssCount.set(prev.path, n + 1);
        v.name = { kind: 'anon', path: prev.path, ordinal: n };
      } else if (v.end - v.start >= MIN_NAMED_ANON_BYTES) {
        freeAnon.push(v);
      }
    }
  });
  // Highest address first: creation order under the top-down mmap layout.
  freeAnon.reverse().forEach((v, n) => (v.name = { kind: 'anon', path: '', ordinal: n }));
  return out;
}

export function sameName(a: MappingName, b: MappingName): boolean {
  return a.kind === b.kind && (a.path ?? '') === (b.path ?? '') && (a.ordinal ?? 0) === (b.ordinal ?? 0);
}

/** 'anon#2', 'anon:/usr/bin/x#0' (a .bss), 'file:/usr/lib/libc.so.6', 'heap', 'stack'. */
export function formatMappingName(n: MappingName): string {
  switch (n.kind) {
    case 'heap':
    case 'stack':
      return n.kind;
    case 'file':
      return `file:${n.path}`;
    case 'anon':
      return n.path ? `anon:${n.path}#${n.ordinal}` : `anon#${n.ordinal}`;
    default:
      return `${n.kind}`;
  }
}

/** The name and offset of an address, or undefined when its mapping has no name (or there is none). */
export function nameOf(named: readonly NamedVma[], address: number): { name: MappingName; offset: number; vma: NamedVma } | undefined {
  const vma = named.find((v) => v.start <= address && address < v.end);
  if (!vma?.name) return undefined;
  return { name: vma.name, offset: address - vma.base, vma };
}

/** The VMA that holds all of [start, start + length), or undefined. */
export function mappingContaining<T extends Vma>(vmas: readonly T[], start: number, length: number): T | undefined {
  if (!(length > 0)) return undefined;
  return vmas.find((v) => v.start <= start && start + length <= v.end);
}

export type Resolved = { ok: true; start: number; end: number; vma: NamedVma } | { ok: false; reason: string };

/**
 * Where (name, offset, length) sits in this process: the range must lie
 * inside one VMA of that name.
 */
export function resolveRegion(named: readonly NamedVma[], name: MappingName, offset: number, length: number): Resolved {
  const want: MappingName = { kind: name.kind, path: name.path ?? '', ordinal: name.ordinal ?? 0 };
  const label = formatMappingName(want);
  const candidates = named.filter((v) => v.name && sameName(v.name, want));
  if (candidates.length === 0) return { ok: false, reason: `no mapping named ${label}` };
  const start = candidates[0]!.base + offset;
  const vma = mappingContaining(candidates, start, length);
  if (!vma) {
    const size = Math.max(...candidates.map((v) => v.end - v.base));
    return { ok: false, reason: `offset ${offset} + length ${length} does not fit inside mapping ${label} (${size} bytes)` };
  }
  return { ok: true, start, end: start + length, vma };
}

/** The names of MappingKind a profile or hint may use (wire 'unspecified' excluded). */
export const NAMED_KINDS: readonly MappingKind[] = ['anon', 'heap', 'stack', 'file'];
