/**
 * The values file of `pageloop deploy k8s --values FILE`, fuzzed: the full
 * default settings with one field edited (another type, removed, an unknown
 * key beside it, wrapped in an array), and random JSON. Merged over the
 * defaults and built into manifests (what the command does), each ends in
 * manifests or a UsageError whose message is one line naming a dotted key on
 * the edited field's branch; never another throw (a stack trace at the
 * command line), never a manifest built from an unchecked value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../lib/errors.js';
import { buildManifests } from './build.js';
import { DEFAULT_KUBERNETES_CONFIG, mergeKubernetesValues } from './config.js';
import { decodesOrRefuses, fuzzParams } from '../../test/fuzz.js';
import { applyEdit, editArb, type Json } from '../../test/json-mutations.js';

const RUNS = 400;
const TIMEOUT = { timeout: 60_000 };
const VALUES = JSON.parse(JSON.stringify(DEFAULT_KUBERNETES_CONFIG)) as Json;

const build = (values: unknown): unknown => buildManifests(mergeKubernetesValues(DEFAULT_KUBERNETES_CONFIG, values));
const isUsage = (e: unknown): boolean => e instanceof UsageError;

/** One line, and its key (the text before the first ': ') on the edited path's branch. */
function checkRefusal(err: unknown, at: readonly string[] | undefined): void {
  const message = (err as Error).message;
  assert.ok(!/[\n\r]/.test(message), `the message spans lines: ${JSON.stringify(message)}`);
  if (at === undefined) return;
  // The key as segments: agent.tolerations[0] is agent.tolerations.0, a quoted segment ("a b") is its text.
  const key = message
    .slice(0, message.indexOf(': '))
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/(^|\.)"((?:[^"\\]|\\.)*)"/g, (_m, dot: string, q: string) => dot + (JSON.parse(`"${q}"`) as string));
  const edited = at.join('.');
  // An array element is named by its array (agent.tolerations), a removed field by itself or its container.
  // A rule across fields (kafka.bootstrap when kafka.strimzi.enabled is false) names the other field, and the edited one in its text.
  const onBranch = key === 'values' || message.includes(edited) || edited === key || edited.startsWith(`${key}.`) || key.startsWith(`${edited}.`);
  assert.ok(onBranch, `edited ${edited}, the error names ${JSON.stringify(key)}: ${message}`);
}

describe('deploy k8s --values, fuzzed', () => {
  it('the defaults, written out as a values file, build', () => {
    assert.ok((build(VALUES) as unknown[]).length > 0);
  });

  it('one field edited: manifests, or a one-line UsageError naming a key on that field\'s branch', TIMEOUT, () => {
    let refused = 0;
    fc.assert(
      fc.property(editArb(VALUES), (edit) => {
        const { doc, at } = applyEdit(VALUES, edit);
        const r = decodesOrRefuses(() => build(doc), isUsage);
        if (!r.ok) {
          refused++;
          checkRefusal(r.error, at);
        }
      }),
      fuzzParams(RUNS),
    );
    // Most edits must be refused (a wrong type, an unknown key): a property that accepted them all would say little.
    assert.ok(refused >= RUNS / 3, `only ${refused} of ${RUNS} edits refused`);
  });

  it('any JSON value: manifests or a one-line UsageError', TIMEOUT, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const r = decodesOrRefuses(() => build(value), isUsage);
        if (!r.ok) checkRefusal(r.error, undefined);
      }),
      fuzzParams(RUNS),
    );
  });
});
