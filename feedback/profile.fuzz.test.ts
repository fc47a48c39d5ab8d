/**
 * Profiles (eBPF-mm style, from a file a person hands `pageloop profile
 * load`), fuzzed past the schema: any profile the schema accepts, against
 * any set of named mappings, plans without throwing: each region becomes a
 * hint the wire accepts (what the enforcer and the actions topic carry),
 * inside a mapping of that name and as long as the region, or a refusal
 * that names the region; the chosen page size is one the profile gave.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SchemaError, validateProfile, type Profile, type ProfileRegion } from '../schemas/validate.js';
import { decodeHint, encodeHint } from '../schemas/derived.js';
import type { MappingName, ProcessId } from '../schemas/identity.js';
import type { NamedVma } from './mappings.js';
import { BASE_PAGE_KB, chooseAction, profileHints } from './profile.js';
import { decodesOrRefuses, fuzzParams } from '../test/fuzz.js';

const RUNS = 500;
const TIMEOUT = { timeout: 20_000 };
const PATHS = ['/usr/bin/app', '/usr/lib/libx.so'];
const TARGET: ProcessId = { host: 'node-a', bootId: 'boot', pid: 4242, startNs: 123_000_000 };

const nameArb = fc.oneof(
  fc.record({ kind: fc.constantFrom('heap' as const, 'stack' as const) }),
  fc.record({ kind: fc.constant('file' as const), path: fc.constantFrom(...PATHS) }),
  fc.record({ kind: fc.constant('anon' as const), ordinal: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: ['kind'] }),
  fc.record({ kind: fc.constant('anon' as const), path: fc.constantFrom(...PATHS), ordinal: fc.integer({ min: 0, max: 2 }) }),
);

const sizeKeyArb = fc.integer({ min: 2, max: 23 }).map((s) => String(2 ** s));

const regionArb: fc.Arbitrary<ProfileRegion> = fc
  .record({
    name: nameArb,
    offset: fc.oneof(fc.integer({ min: 0, max: 64 << 20 }), fc.constantFrom(0, Number.MAX_SAFE_INTEGER, 2 ** 47)),
    length: fc.oneof(fc.integer({ min: 1, max: 64 << 20 }), fc.constantFrom(1, Number.MAX_SAFE_INTEGER)),
    benefit: fc.dictionary(sizeKeyArb, fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, -1)), { minKeys: 1, maxKeys: 4 }),
    preferWhich: fc.option(fc.nat(), { nil: undefined }),
  })
  .map(({ preferWhich, ...r }) => {
    const keys = Object.keys(r.benefit);
    return preferWhich === undefined ? r : { ...r, preferredSizeKb: Number(keys[preferWhich % keys.length]) };
  });

const profileArb = fc.record({ version: fc.constant(1 as const), regions: fc.array(regionArb, { maxLength: 6 }) }, { requiredKeys: ['version', 'regions'] });

/** Mappings a process might have, named as nameMappings names them. */
const vmaArb: fc.Arbitrary<NamedVma> = fc
  .record({ name: fc.option(nameArb, { nil: undefined }), startPages: fc.integer({ min: 0x1000, max: 0x7fff_ffff }), pages: fc.integer({ min: 1, max: 1 << 15 }), baseBack: fc.integer({ min: 0, max: 256 }) })
  .map(({ name, startPages, pages, baseBack }) => {
    const start = startPages * 4096;
    const full: MappingName | undefined = name && { kind: name.kind, path: 'path' in name ? name.path : '', ordinal: 'ordinal' in name ? (name.ordinal ?? 0) : 0 };
    return { start, end: start + pages * 4096, perms: 'rw-p', fileOffset: 0, inode: 0, path: full?.path ?? '', base: start - baseBack * 4096, ...(full ? { name: full } : {}) };
  });

describe('profiles, fuzzed past their schema', () => {
  it('any profile the schema accepts plans, against any mappings: wire-valid hints inside a mapping of the name, or refusals naming the region', TIMEOUT, () => {
    const seen = { hints: 0, refusals: 0, schemaRefused: 0 };
    fc.assert(
      fc.property(profileArb, fc.array(vmaArb, { maxLength: 8 }), (raw, named) => {
        const checked = decodesOrRefuses(() => validateProfile(JSON.parse(JSON.stringify(raw))), (e) => e instanceof SchemaError);
        if (!checked.ok) {
          seen.schemaRefused++;
          return;
        }
        const profile: Profile = checked.value;
        const planned = profileHints(profile, TARGET, named, 1_000_000, '/tmp/p.json');
        assert.equal(planned.length, profile.regions.length);
        for (const p of planned) {
          const r = profile.regions[p.index]!;
          if (!('hint' in p)) {
            seen.refusals++;
            assert.match(p.refusal, new RegExp(`^profile region ${p.index} `));
            continue;
          }
          const h = p.hint;
          seen.hints++;
          assert.deepEqual(decodeHint(encodeHint(h)), h, 'the hint does not survive the wire');
          assert.equal(h.region!.length, r.length);
          assert.ok(named.some((v) => v.start <= h.region!.start && h.region!.start + r.length <= v.end), 'the hint is not inside one mapping');
          assert.ok(h.pageSizeKb === BASE_PAGE_KB || String(h.pageSizeKb) in r.benefit, `page size ${h.pageSizeKb} is not in the profile`);
        }
      }),
      fuzzParams(RUNS),
    );
    // The generators must reach both outcomes, or the property says little.
    assert.ok(seen.hints >= 50 && seen.refusals >= 50, JSON.stringify(seen));
  });

  it('chooseAction: the preferred size when given, else the best benefit; promote only a larger page with a positive benefit', TIMEOUT, () => {
    fc.assert(
      fc.property(regionArb, (r) => {
        const c = chooseAction(r);
        if (c.action === 'promote') {
          assert.ok(c.pageSizeKb > BASE_PAGE_KB && c.benefit > 0);
          assert.equal(r.benefit[String(c.pageSizeKb)], c.benefit);
          if (r.preferredSizeKb === undefined) assert.ok(Object.values(r.benefit).every((b) => b <= c.benefit));
          else assert.equal(c.pageSizeKb, r.preferredSizeKb);
        } else {
          assert.equal(c.pageSizeKb, BASE_PAGE_KB);
        }
      }),
      fuzzParams(RUNS),
    );
  });
});
