import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountinfo, parseSelected } from './host.js';

test('parseSelected picks the bracketed choice', () => {
  assert.equal(parseSelected('always [madvise] never\n'), 'madvise');
  assert.equal(parseSelected('[always] madvise never'), 'always');
  assert.equal(parseSelected('always defer defer+madvise [madvise] never'), 'madvise');
  assert.equal(parseSelected('always inherit within_size advise [never]'), 'never');
  assert.equal(parseSelected('[lzo-rle] lzo lz4 '), 'lzo-rle');
  assert.equal(parseSelected('always madvise never'), null);
});
test('parseMountinfo splits at the separator despite optional fields', () => {
  const m = parseMountinfo('29 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n' + '50 29 0:40 / /mnt/a\\040b rw - ext4 /dev/vda1 rw\n');
  assert.deepEqual(m, [
    { mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2', source: 'cgroup2', superOptions: ['rw', 'nsdelegate'] },
    { mountPoint: '/mnt/a b', fsType: 'ext4', source: '/dev/vda1', superOptions: ['rw'] },
  ]);
});
