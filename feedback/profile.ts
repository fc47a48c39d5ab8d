/**
 * Profiles without the pipeline: an eBPF-mm-style profile (named regions and
 * the benefit of each page size) turned into hints for one live process,
 * which the enforcer then treats like any hint from Kafka.
 */
import { basename } from 'node:path';
import { formatMappingName, resolveRegion, type NamedVma } from './mappings.js';
import type { MappingName, ProcessId } from '../schemas/identity.js';
import type { Hint } from '../schemas/derived.js';
import type { Profile, ProfileRegion } from '../schemas/validate.js';
import { hex } from './policy.js';

/** The base page size: a profile whose best size is this asks to keep base pages. */
export const BASE_PAGE_KB = 4;
/** Profile hints last as long as their process (the largest u64 a JS number holds exactly). */
export const NEVER_NS = Number.MAX_SAFE_INTEGER;

export interface ProfileChoice {
  action: 'promote' | 'keep_base_pages';
  pageSizeKb: number;
  benefit: number;
}

/**
 * The page size a region wants: preferredSizeKb if given, else the size of
 * greatest benefit (the smaller one on a tie: no bigger page without a
 * reason). Larger than a base page with a positive benefit: promote;
 * otherwise keep base pages.
 */
export function chooseAction(r: ProfileRegion): ProfileChoice {
  const sizes = Object.entries(r.benefit)
    .map(([k, v]) => ({ kb: Number(k), benefit: v }))
    .sort((a, b) => a.kb - b.kb);
  let best = sizes[0]!;
  for (const s of sizes) if (s.benefit > best.benefit) best = s;
  if (r.preferredSizeKb !== undefined) best = sizes.find((s) => s.kb === r.preferredSizeKb) ?? best;
  if (best.kb > BASE_PAGE_KB && best.benefit > 0) return { action: 'promote', pageSizeKb: best.kb, benefit: best.benefit };
  return { action: 'keep_base_pages', pageSizeKb: BASE_PAGE_KB, benefit: r.benefit[String(BASE_PAGE_KB)] ?? 0 };
}

export function regionLabel(name: MappingName | ProfileRegion['name'], offset: number, length: number): string {
  const n: MappingName = { kind: name.kind, path: name.path ?? '', ordinal: name.ordinal ?? 0 };
  return `${formatMappingName(n)}+${hex(offset)} (${length} bytes)`;
}

export type PlannedRegion = { index: number; label: string; hint: Hint } | { index: number; label: string; refusal: string; hintId: string };

/** One hint per profile region that resolves in this process; a refusal for each that does not. */
export function profileHints(profile: Profile, target: ProcessId, named: readonly NamedVma[], issuedNs: number, source: string): PlannedRegion[] {
  return profile.regions.map((r, index) => {
    const label = regionLabel(r.name, r.offset, r.length);
    const hintId = `profile:${basename(source)}:${target.pid}:${target.startNs}:${index}`;
    const name: MappingName = { kind: r.name.kind, path: r.name.path ?? '', ordinal: r.name.ordinal ?? 0 };
    const where = resolveRegion(named, name, r.offset, r.length);
    if (!where.ok) return { index, label, hintId, refusal: `profile region ${index} ${label}: ${where.reason} in pid ${target.pid}` };
    const choice = chooseAction(r);
    const hint: Hint = {
      hintId,
      process: target,
      region: { mapping: name, offset: r.offset, start: where.start, length: r.length },
      action: choice.action,
      pageSizeKb: choice.pageSizeKb,
      score: choice.benefit,
      reason: `profile ${source} region ${index}: ${label}, best page size ${choice.pageSizeKb} KiB (benefit ${choice.benefit})`,
      issuedNs,
      expiresNs: NEVER_NS,
      cgroup: '',
      bytes: 0,
    };
    return { index, label, hint };
  });
}
