import { UsageError } from '../lib/errors.js';
import { FAMILIES, type FamilyName } from '../bpf/events.js';
import { DEFAULT_PROBES_CONFIG, FAULT_MODE_NAMES, PROMOTION_MODES, type ProbesConfig } from '../bpf/probes.js';
import { flagNumber, flagString, type FlagSpec, type ParsedArgs } from './args.js';

/** --pid values: process ids, each named in the error when it is not one. */
export function parsePids(values: readonly string[]): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--pid: '${v}' is not a process id`);
    return n;
  });
}

/** --events values: event families; none given means all. */
export function parseFamilies(values: readonly string[], emptyMeansAll: boolean): FamilyName[] {
  if (values.length === 0 && emptyMeansAll) return [...FAMILIES];
  return values.map((v) => {
    if (!(FAMILIES as readonly string[]).includes(v)) throw new UsageError(`--events: unknown event family '${v}' (known: ${FAMILIES.join(', ')})`);
    return v as FamilyName;
  });
}

/** --ring-buffer-kib bounds: the kernel wants a power-of-two number of whole pages (4 KiB here); 1 GiB is far past any drain's need. */
export const RING_BUFFER_KIB_MIN = 4;
export const RING_BUFFER_KIB_MAX = 1024 * 1024;

/** The flags that choose how the probes count and how much the ring buffer holds: shared by `collect`, `agent`, `record`, `up` and `trace`. */
export const PROBE_MODE_FLAGS: FlagSpec[] = [
  { name: 'fault-mode', kind: 'string', help: 'exact (default: a program on every fault, exact per-region counts), sampled (per-region counts, 1 fault in --sample-period runs a program) or raw (every fault a record)' },
  { name: 'sample-period', kind: 'number', help: `sampled fault mode: one program run per N minor faults (default ${DEFAULT_PROBES_CONFIG.faultSamplePeriod}; 1 counts every fault)` },
  { name: 'promotion-mode', kind: 'string', help: 'exact (default: a record per huge page or mTHP a target faults in) or counters (from the kernel THP/mTHP counters, no program on page allocation)' },
  { name: 'ring-buffer-kib', kind: 'number', help: `ring buffer size in KiB, a power of two from ${RING_BUFFER_KIB_MIN} (one page) to ${RING_BUFFER_KIB_MAX} (default ${DEFAULT_PROBES_CONFIG.ringBufferBytes / 1024}; config probes.ringBufferBytes); a record that does not fit is lost and counted` },
];

/** What the probe flags set: the probes' own config names. */
export type ProbeFlagSettings = Pick<Partial<ProbesConfig>, 'faultMode' | 'faultSamplePeriod' | 'promotionMode' | 'ringBufferBytes'>;

/** --fault-mode, --sample-period, --promotion-mode, --ring-buffer-kib: what was given, checked, each error naming its flag. */
export function parseProbeModes(args: ParsedArgs): ProbeFlagSettings {
  const out: ProbeFlagSettings = {};
  const faultMode = flagString(args, 'fault-mode');
  if (faultMode !== undefined) {
    const mode = Object.hasOwn(FAULT_MODE_NAMES, faultMode) ? FAULT_MODE_NAMES[faultMode as keyof typeof FAULT_MODE_NAMES] : undefined;
    if (!mode) throw new UsageError(`--fault-mode: '${faultMode}' is not one of sampled, exact, raw`);
    out.faultMode = mode;
  }
  const period = flagNumber(args, 'sample-period');
  if (period !== undefined) {
    if (!Number.isInteger(period) || period < 1 || period > 1 << 20) throw new UsageError(`--sample-period: wants an integer from 1 to ${1 << 20}, got ${period}`);
    if (out.faultMode !== undefined && out.faultMode !== 'sampled') throw new UsageError(`--sample-period: only with --fault-mode sampled (got --fault-mode ${faultMode})`);
    out.faultSamplePeriod = period;
  }
  const promotionMode = flagString(args, 'promotion-mode');
  if (promotionMode !== undefined) {
    if (!(PROMOTION_MODES as readonly string[]).includes(promotionMode)) throw new UsageError(`--promotion-mode: '${promotionMode}' is not one of ${PROMOTION_MODES.join(', ')}`);
    out.promotionMode = promotionMode as ProbesConfig['promotionMode'];
  }
  const kib = flagNumber(args, 'ring-buffer-kib');
  if (kib !== undefined) {
    if (!Number.isInteger(kib) || kib < RING_BUFFER_KIB_MIN || kib > RING_BUFFER_KIB_MAX || (kib & (kib - 1)) !== 0) {
      throw new UsageError(`--ring-buffer-kib: wants a power of two from ${RING_BUFFER_KIB_MIN} to ${RING_BUFFER_KIB_MAX} (whole pages, as the kernel requires), got ${kib}`);
    }
    out.ringBufferBytes = kib * 1024;
  }
  return out;
}
