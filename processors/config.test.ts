import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../lib/errors.js';
import {
  DEFAULT_PROCESSOR_CONFIG,
  configFingerprint,
  createProcessorConfig,
  processorConfigFromFile,
  processorConfigFromJson,
  scoredSizesKb,
  validateProcessorConfig,
} from './config.js';

const bad = (fn: () => unknown, key: string): void => {
  assert.throws(fn, (e: unknown) => e instanceof UsageError && e.message.startsWith(`processors.${key}:`), `expected an error naming processors.${key}`);
};

describe('processor config', () => {
  it('the defaults are valid', () => {
    validateProcessorConfig(DEFAULT_PROCESSOR_CONFIG);
    assert.deepEqual(createProcessorConfig(), DEFAULT_PROCESSOR_CONFIG);
  });

  it('names the bad key', () => {
    bad(() => createProcessorConfig({ windowMs: 5 }), 'windowMs');
    bad(() => createProcessorConfig({ regionBytes: 3000 }), 'regionBytes');
    bad(() => createProcessorConfig({ scorer: { zeroingNsPerKb: -1 } }), 'scorer.zeroingNsPerKb');
    bad(() => createProcessorConfig({ scorer: { pageSizesKb: [64, 100] } }), 'scorer.pageSizesKb[1]');
    bad(() => createProcessorConfig({ scorer: { costDecay: 2 } }), 'scorer.costDecay');
    bad(() => createProcessorConfig({ phases: { threshold: 0 } }), 'phases.threshold');
    bad(() => createProcessorConfig({ planner: { coldWindows: 1 } }), 'planner.coldWindows');
    bad(() => createProcessorConfig({ tuner: { maxColdWindows: 1 } }), 'tuner.maxColdWindows');
    // A region must outlive the page-out threshold.
    bad(() => createProcessorConfig({ idleEvictWindows: 10 }), 'idleEvictWindows');
  });

  it('maps the config file section (schemas/config.schema.json)', () => {
    const input = processorConfigFromFile({
      windowMs: 5000,
      scorer: { pageSizesKb: [16, 2048], zeroingNsPerKb: 20 },
      phases: { threshold: 0.3 },
      planner: { maxHintsPerWindow: 4 },
      tuner: { objective: 'memory_psi', target: 15 },
    });
    const c = createProcessorConfig(input);
    assert.equal(c.windowMs, 5000);
    assert.deepEqual(c.scorer.pageSizesKb, [16, 2048]);
    assert.equal(c.scorer.zeroingNsPerKb, 20);
    assert.equal(c.scorer.walkNsPerAccess, DEFAULT_PROCESSOR_CONFIG.scorer.walkNsPerAccess);
    assert.equal(c.phases.threshold, 0.3);
    assert.equal(c.planner.maxHintsPerWindow, 4);
    assert.equal(c.tuner.psiTargetSomeAvg10, 15);
    assert.equal(createProcessorConfig(processorConfigFromFile({ tuner: { target: 0.5 } })).tuner.refaultTargetPctPerMin, 0.5);
    bad(() => processorConfigFromFile({ tuner: { objective: 'latency' } }), 'tuner.objective');
  });

  it('a model file refuses unknown keys by name', () => {
    assert.deepEqual(processorConfigFromJson({ scorer: { walkNsPerAccess: 5 } }), { scorer: { walkNsPerAccess: 5 } });
    bad(() => processorConfigFromJson({ scorer: { walkNs: 5 } }), 'scorer.walkNs');
    bad(() => processorConfigFromJson({ windowSize: 5 }), 'windowSize');
    bad(() => processorConfigFromJson({ tuner: 3 }), 'tuner');
  });

  it('sizes that do not fit the region are not scored; the fingerprint follows the model', () => {
    const c = createProcessorConfig({ scorer: { pageSizesKb: [2048, 64, 32768] } });
    assert.deepEqual(scoredSizesKb(c, 2 * 1024 * 1024), [64, 2048]);
    assert.equal(configFingerprint(c), configFingerprint(createProcessorConfig({ scorer: { pageSizesKb: [2048, 64, 32768] } })));
    assert.notEqual(configFingerprint(c), configFingerprint(DEFAULT_PROCESSOR_CONFIG));
  });
});
