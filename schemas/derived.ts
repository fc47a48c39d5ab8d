/**
 * The processors' and the feedback agent's messages (pageloop.proto's
 * RegionScore, PhaseChange, Hint, HintAction, TunerChange), each with its
 * checks and its encoder and decoder (by reflection, schemas/proto-reflect.ts).
 * A check refuses what a consumer must not act on (a hint without a
 * region, an unspecified action): encoders throw WireEncodeError,
 * decoders WireDecodeError.
 */
import { checkProcess, checkRegion, type ProcessId, type Region } from './identity.js';
import { decodeWith, encodeWith } from './proto-reflect.js';
import { need } from './wire-errors.js';

export interface PageSizeScore {
  sizeKb: number;
  benefit: number;
  cost: number;
  net: number;
}

export interface AccessStats {
  faults: number;
  writeFaults: number;
  instrFaults: number;
  protFaults: number;
  majorFaults: number;
  promotions: number;
  promotionFailures: number;
  collapses: number;
  swapOuts: number;
  damonAccesses: number;
  touchedBytes: number;
}

export interface RegionScore {
  process: ProcessId;
  region: Region;
  windowStartNs: number;
  windowEndNs: number;
  sizes: PageSizeScore[];
  preferredSizeKb: number;
  access: AccessStats;
  executable: string;
  comm: string;
}

export interface PhaseSummary {
  hotSetHash: number;
  hotRegions: number;
  hotBytes: number;
  faultRate: number;
  majorFaultRate: number;
  promotionRate: number;
  swapOutRate: number;
}

export interface PhaseChange {
  process: ProcessId;
  atNs: number;
  phase: number;
  before: PhaseSummary;
  after: PhaseSummary;
  distance: number;
  reason: string;
}

export const HINT_ACTIONS = ['promote', 'keep_base_pages', 'mark_cold', 'page_out', 'reclaim_cgroup'] as const;
/** Hint.Action; 'unspecified' only ever appears in a message that is refused. */
export type HintActionKind = 'unspecified' | (typeof HINT_ACTIONS)[number];

export interface Hint {
  hintId: string;
  process: ProcessId;
  /** Absent for cgroup-wide actions (reclaim_cgroup). */
  region?: Region;
  action: HintActionKind;
  pageSizeKb: number;
  score: number;
  reason: string;
  issuedNs: number;
  expiresNs: number;
  cgroup: string;
  bytes: number;
}

export const HINT_OUTCOMES = ['applied', 'refused', 'failed', 'dry_run'] as const;
export type HintOutcome = 'unspecified' | (typeof HINT_OUTCOMES)[number];

export interface HintAction {
  hintId: string;
  process: ProcessId;
  region?: Region;
  action: HintActionKind;
  pageSizeKb: number;
  outcome: HintOutcome;
  reason: string;
  errno: number;
  bytesAffected: number;
  durationNs: number;
  atNs: number;
  cgroup: string;
}

export interface TunerChange {
  threshold: string;
  oldValue: number;
  newValue: number;
  objective: string;
  measured: number;
  target: number;
  atNs: number;
  scope: string;
  reason: string;
}

function checkRegionScore(s: RegionScore): void {
  checkProcess(s.process, 'process');
  need(s.process.pid !== 0, 'process.pid: 0');
  checkRegion(s.region, 'region');
  need(s.access !== undefined, 'access: missing');
}

function checkPhaseChange(c: PhaseChange): void {
  checkProcess(c.process, 'process');
  need(c.before !== undefined, 'before: missing');
  need(c.after !== undefined, 'after: missing');
}

function checkHint(h: Hint): void {
  need(typeof h.hintId === 'string' && h.hintId !== '', 'hintId: empty');
  checkProcess(h.process, 'process');
  need(h.action !== 'unspecified', 'action: unspecified');
  if (h.action === 'reclaim_cgroup') need(h.cgroup !== '', 'cgroup: empty (reclaim_cgroup names a cgroup)');
  else checkRegion(h.region, 'region');
}

function checkHintAction(a: HintAction): void {
  need(typeof a.hintId === 'string' && a.hintId !== '', 'hintId: empty');
  checkProcess(a.process, 'process');
  need(a.outcome !== 'unspecified', 'outcome: unspecified');
}

function checkTunerChange(c: TunerChange): void {
  need(typeof c.threshold === 'string' && c.threshold !== '', 'threshold: empty');
}

export const encodeRegionScore = (v: RegionScore): Uint8Array => encodeWith('RegionScore', v, checkRegionScore);
export const decodeRegionScore = (b: Uint8Array): RegionScore => decodeWith('RegionScore', b, checkRegionScore);
export const encodePhaseChange = (v: PhaseChange): Uint8Array => encodeWith('PhaseChange', v, checkPhaseChange);
export const decodePhaseChange = (b: Uint8Array): PhaseChange => decodeWith('PhaseChange', b, checkPhaseChange);
export const encodeHint = (v: Hint): Uint8Array => encodeWith('Hint', v, checkHint);
export const decodeHint = (b: Uint8Array): Hint => decodeWith('Hint', b, checkHint);
export const encodeHintAction = (v: HintAction): Uint8Array => encodeWith('HintAction', v, checkHintAction);
export const decodeHintAction = (b: Uint8Array): HintAction => decodeWith('HintAction', b, checkHintAction);
export const encodeTunerChange = (v: TunerChange): Uint8Array => encodeWith('TunerChange', v, checkTunerChange);
export const decodeTunerChange = (b: Uint8Array): TunerChange => decodeWith('TunerChange', b, checkTunerChange);
