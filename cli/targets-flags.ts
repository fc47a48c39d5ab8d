import { UsageError } from '../lib/errors.js';
import { FAMILIES, type FamilyName } from '../bpf/events.js';

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
