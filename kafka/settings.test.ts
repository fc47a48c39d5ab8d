import assert from 'node:assert/strict';
import { it } from 'node:test';
import { kafkaSettingsFor } from './settings.js';

it('flags replace the file brokers; the client id names the role and instance', () => {
  const file = { brokers: ['k1:9092', 'k2:9092'], clientId: 'fleet', ssl: true, sasl: { mechanism: 'plain' as const, username: 'u', password: 'p' } };
  assert.deepEqual(kafkaSettingsFor('sink', file), { brokers: ['k1:9092', 'k2:9092'], clientId: 'fleet-sink', ssl: true, sasl: file.sasl });
  assert.deepEqual(kafkaSettingsFor('collector', file, { brokers: ['x:1'] }, 'host-a').brokers, ['x:1']);
  assert.equal(kafkaSettingsFor('collector', file, { brokers: [] }, 'host-a').clientId, 'fleet-collector-host-a');
  assert.deepEqual(kafkaSettingsFor('processors', undefined, {}, 'i-1'), { brokers: [], clientId: 'pageloop-processors-i-1' });
});
