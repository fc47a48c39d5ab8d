/**
 * Phase detector: a process changes phase when its hot-region set or its
 * fault regime moves away from the current phase's reference, and stays
 * away (hysteresis: `confirmWindows` windows in a row, and not within
 * `minDwellMs` of the previous change), so a noisy window does not flap it.
 *
 *   distance = max(jaccard(hotBefore, hotNow), regime(faultRateBefore, faultRateNow))
 *   jaccard  = 1 - |A ∩ B| / |A ∪ B|           (0 when both are empty)
 *   regime   = |a - b| / max(a, b)             (0 when both rates are under minFaultRate)
 *
 * While a window stays under the threshold it becomes the reference, so a
 * slow drift follows along instead of piling up into a false change.
 */
import { createHash } from 'node:crypto';
import type { PhaseSummary } from '../schemas/derived.js';
import type { PhasesConfig } from './config.js';

export interface PhaseState {
  /** Ordinal of the current phase, from 0. */
  phase: number;
  /** The current phase's reference window; null until the process has a hot region. */
  ref: PhaseSummary | null;
  refHot: number[];
  /** A change under way: how many windows in a row, since when. */
  cand: { count: number; atNs: number } | null;
  /** Window index of the last change (or establishment). */
  lastChangeWindow: number;
}

export function newPhaseState(): PhaseState {
  return { phase: 0, ref: null, refHot: [], cand: null, lastChangeWindow: -Infinity };
}

/** Sorted ascending arrays of region starts. */
export function jaccardDistance(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 && b.length === 0) return 0;
  let i = 0;
  let j = 0;
  let both = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! === b[j]!) {
      both++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return 1 - both / (a.length + b.length - both);
}

export function regimeDistance(a: number, b: number, minRate: number): number {
  const hi = Math.max(a, b);
  if (hi < minRate || hi <= 0) return 0;
  return Math.abs(a - b) / hi;
}

const TWO_32 = 4294967296;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where hotSetHash spells a set out (grown as needed, never shrunk). */
let hashInput = Buffer.allocUnsafe(1024);

/** Appends x (0 <= x < 2^32) in lowercase hex at pos: all 8 digits when padded, else without leading zeros. */
function hex32(x: number, pos: number, padded: boolean): number {
  for (let shift = 28; shift >= 0; shift -= 4) {
    const digit = (x >>> shift) & 15;
    if (padded || digit !== 0 || shift === 0) {
      hashInput[pos++] = HEX_DIGITS[digit]!;
      padded = true;
    }
  }
  return pos;
}

/**
 * 52 bits of SHA-256 over the sorted hot region starts in hex, comma
 * separated (`hot.map((r) => r.toString(16)).join(',')`): an exact
 * JavaScript number. Spelled into bytes directly: once per process and
 * window, the string way cost ~15 us for a hundred regions.
 */
export function hotSetHash(hot: readonly number[]): number {
  if (hot.length === 0) return 0;
  if (hashInput.length < hot.length * 17) hashInput = Buffer.allocUnsafe(hot.length * 17);
  let pos = 0;
  for (let i = 0; i < hot.length; i++) {
    const start = hot[i]!;
    // Region starts are addresses: integers in [0, 2^64). Anything else takes the string way.
    if (!(Number.isInteger(start) && start >= 0 && start < TWO_32 * TWO_32)) return hotSetHashOfText(hot);
    if (i > 0) hashInput[pos++] = 0x2c; // ','
    const hi = Math.floor(start / TWO_32);
    const lo = start - hi * TWO_32;
    pos = hi > 0 ? hex32(lo, hex32(hi, pos, false), true) : hex32(lo, pos, false);
  }
  return first52Bits(createHash('sha256').update(hashInput.subarray(0, pos)).digest());
}

function hotSetHashOfText(hot: readonly number[]): number {
  return first52Bits(createHash('sha256').update(hot.map((r) => r.toString(16)).join(',')).digest());
}

/** The first 13 hex digits of a digest, as a number. */
function first52Bits(digest: Buffer): number {
  return digest.readUIntBE(0, 6) * 16 + (digest[6]! >>> 4);
}

export interface PhaseWindow {
  index: number;
  startNs: number;
  summary: PhaseSummary;
  /** Hot region starts, ascending. */
  hot: number[];
}

export interface PhaseDecision {
  phase: number;
  atNs: number;
  before: PhaseSummary;
  after: PhaseSummary;
  distance: number;
  reason: string;
}

/** One window of a process: updates the state, returns a change when one is confirmed. */
export function phaseStep(s: PhaseState, w: PhaseWindow, c: PhasesConfig, windowMs: number): PhaseDecision | null {
  if (s.ref === null) {
    if (w.hot.length > 0) {
      s.ref = w.summary;
      s.refHot = w.hot;
      s.lastChangeWindow = w.index;
    }
    return null;
  }
  const jac = jaccardDistance(s.refHot, w.hot);
  const reg = regimeDistance(s.ref.faultRate + s.ref.majorFaultRate, w.summary.faultRate + w.summary.majorFaultRate, c.minFaultRate);
  const distance = Math.max(jac, reg);
  if (distance < c.threshold) {
    s.cand = null;
    s.ref = w.summary;
    s.refHot = w.hot;
    return null;
  }
  s.cand = s.cand ? { count: s.cand.count + 1, atNs: s.cand.atNs } : { count: 1, atNs: w.startNs };
  const dwellWindows = Math.ceil(c.minDwellMs / windowMs);
  if (s.cand.count < c.confirmWindows || w.index - s.lastChangeWindow < dwellWindows) return null;
  const what = jac >= reg ? `hot set moved (jaccard ${jac.toFixed(3)})` : `fault regime changed (${reg.toFixed(3)})`;
  const decision: PhaseDecision = {
    phase: s.phase + 1,
    atNs: s.cand.atNs,
    before: s.ref,
    after: w.summary,
    distance,
    reason: `${what}; held ${s.cand.count} windows over threshold ${c.threshold}`,
  };
  s.phase++;
  s.ref = w.summary;
  s.refHot = w.hot;
  s.cand = null;
  s.lastChangeWindow = w.index;
  return decision;
}
