/**
 * Support for the property-based tests of decoders of outside bytes
 * (*.fuzz.test.ts): fixed seeds and run counts (the same inputs on every
 * run, so a failure reproduces), mutations of valid encodings (flipped
 * bytes, truncation, inflated lengths, spliced garbage), and the check that
 * a decoder ends either in a value or in the error it documents.
 */
import fc from 'fast-check';

/** One seed for every fuzz test: a failure prints it with the path to replay. */
export const FUZZ_SEED = 0x5eed_1502;

/** fast-check parameters: seeded, a fixed number of runs, failures reported with the counterexample. */
export function fuzzParams(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns, includeErrorInReport: true };
}

/** One edit of a byte string. Positions are taken modulo the length, so one edit fits any input. */
export type Mutation =
  | { op: 'flip'; at: number; mask: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'duplicate'; at: number; count: number }
  /** A byte that reads as a large varint continuation or length: what inflates a length prefix. */
  | { op: 'inflate'; at: number; value: number }
  /** New low seven bits, the continuation bit kept: a varint stays a varint, its value changes. */
  | { op: 'tweak'; at: number; low: number };

// Uniform positions: fc.double and fc.nat are biased to their edges, which would keep every edit near byte 0.
const fraction = fc.noBias(fc.integer({ min: 0, max: 0x7fffffff }));

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fraction, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('set' as const), at: fraction, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fraction }),
  fc.record({ op: fc.constant('insert' as const), at: fraction, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fraction, count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fraction, count: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ op: fc.constant('inflate' as const), at: fraction, value: fc.constantFrom(0x7f, 0x80, 0xff, 0xfe, 0xc0) }),
  fc.record({ op: fc.constant('tweak' as const), at: fraction, low: fc.integer({ min: 0, max: 127 }) }),
);

/** Applies one mutation; never returns the same array object as its input. */
export function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.length;
  const at = n === 0 ? 0 : m.at % n;
  const out = Buffer.from(bytes);
  switch (m.op) {
    case 'flip':
      if (n > 0) out[at] = out[at]! ^ m.mask;
      return out;
    case 'set':
    case 'inflate':
      if (n > 0) out[at] = m.value;
      return out;
    case 'truncate':
      return out.subarray(0, at);
    case 'insert':
      return Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    case 'delete':
      return Buffer.concat([out.subarray(0, at), out.subarray(Math.min(n, at + m.count))]);
    case 'tweak':
      if (n > 0) out[at] = (out[at]! & 0x80) | m.low;
      return out;
    case 'duplicate':
      return Buffer.concat([out.subarray(0, at + Math.min(m.count, n - at)), out.subarray(at)]);
  }
}

/** Valid bytes with one to four mutations applied (mostly one: each more breaks more of the input). */
export function mutatedArb(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const count = fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: fc.integer({ min: 2, max: 4 }), weight: 1 });
  return fc
    .tuple(fc.integer({ min: 0, max: valid.length - 1 }), count.chain((n) => fc.array(mutationArb, { minLength: n, maxLength: n })))
    .map(([i, ms]) => ms.reduce((b, m) => mutate(b, m), valid[i]!));
}

/** Random bytes, empty included. */
export const randomBytesArb = fc.uint8Array({ minLength: 0, maxLength: 512 });

/** The outcome of a decoder on one input: a value, or the error it threw. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Runs `decode` and fails the property unless it returned or threw an error
 * `allowed` accepts; the message names what was thrown (class, message, the
 * top of its stack) so the counterexample says where the decoder broke.
 */
export function decodesOrRefuses<T>(decode: () => T, allowed: (err: unknown) => boolean): Outcome<T> {
  const r = attempt(decode);
  if (!r.ok && !allowed(r.error)) {
    const e = r.error;
    const what = e instanceof Error ? `${e.constructor.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 4).join('\n')}` : String(e);
    throw new Error(`the decoder threw an error it does not document: ${what}`);
  }
  return r;
}

/** JSON values of bounded size and depth, with the awkward numbers (-0, huge, fractions) and keys. */
export const jsonValueArb: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });
