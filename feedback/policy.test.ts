/** The feedback agent's pure decisions, one by one, on plain data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkHintFields,
  checkIdentity,
  checkKernelThread,
  checkKeyMatches,
  checkProtected,
  checkRange,
  cgroupUnder,
  enforcementOf,
  hintKeyOf,
  matchAllowList,
  matchAllowedCgroup,
  parseHintKey,
  regionIndexes,
  startTicksOf,
  PF_KTHREAD,
  type ProcessFacts,
} from './policy.js';
import { createRateLimiter } from './rate-limit.js';
import { feedbackConfig, feedbackSettingsFromFile } from './config.js';
import { findCgroup2Root, reclaimCgroup, reclaimFile } from './cgroup.js';
import { parseCgroupFile, statFlags } from './process.js';
import { chooseAction, profileHints } from './profile.js';
import { nameMappings, parseMaps } from './mappings.js';
import type { Hint } from '../schemas/derived.js';

const BOOT = '8a7f7e4e-0000-4000-8000-000000000001';
const facts = (over: Partial<ProcessFacts> = {}): ProcessFacts => ({
  pid: 4242,
  comm: 'memtouch',
  startTicks: 123456,
  flags: 0x400000,
  exe: '/opt/app/bin/memtouch',
  cgroups: ['/', '/system.slice/app.service'],
  ...over,
});
const hint = (over: Partial<Hint> = {}): Hint => ({
  hintId: 'h1',
  process: { host: 'node-1', bootId: BOOT, pid: 4242, startNs: 123456 * 1e7 + 5_000_000 },
  region: { mapping: { kind: 'anon', path: '', ordinal: 0 }, offset: 0, start: 0x7f0000000000, length: 4 << 20 },
  action: 'promote',
  pageSizeKb: 2048,
  score: 1,
  reason: '',
  issuedNs: 1,
  expiresNs: 2,
  cgroup: '',
  bytes: 0,
  ...over,
});

test('hint keys: HOST|PID|START_NS|REGION_START round-trips; bad keys say why and still give the host', () => {
  const h = hint();
  const key = hintKeyOf(h);
  assert.equal(key, `node-1|4242|${h.process.startNs}|${0x7f0000000000}`);
  const p = parseHintKey(key);
  assert.ok(p.ok);
  assert.deepEqual(p.key, { host: 'node-1', pid: 4242, startNs: h.process.startNs, regionStart: 0x7f0000000000 });
  assert.equal(checkKeyMatches(p.key, h).ok, true);
  const other = checkKeyMatches({ ...p.key, pid: 4243 }, h);
  assert.equal(!other.ok && other.reason, 'key and value disagree on pid: key 4243, value 4242');
  const bad = parseHintKey('node-1|x|1|2');
  assert.deepEqual(bad, { ok: false, host: 'node-1', reason: "key 'node-1|x|1|2' has a part that is not a whole number" });
  const short = parseHintKey('node-2|1');
  assert.equal(!short.ok && short.host, 'node-2');
});

test('identity: start time in ticks (USER_HZ 100) and boot id; a reused pid or another boot is refused', () => {
  assert.equal(startTicksOf(123456 * 1e7 + 9_999_999), 123456);
  assert.equal(checkIdentity(hint().process, facts(), BOOT).ok, true);
  const reused = checkIdentity({ ...hint().process, startNs: 123400 * 1e7 }, facts(), BOOT);
  assert.match(!reused.ok ? reused.reason : '', /pid 4242 started at tick 123456, the hint's process at tick 123400: the pid was reused/);
  const reboot = checkIdentity({ ...hint().process, bootId: 'other' }, facts(), BOOT);
  assert.match(!reboot.ok ? reboot.reason : '', /boot id other is not this boot/);
});

test('protected: pid 1, pageloop itself and kernel threads, whatever else is said', () => {
  assert.match((checkProtected(1, 999) as { reason: string }).reason, /pid 1 \(init\) is never touched/);
  assert.match((checkProtected(999, 999) as { reason: string }).reason, /pageloop itself/);
  assert.equal(checkProtected(4242, 999).ok, true);
  assert.match((checkKernelThread(facts({ pid: 2, comm: 'kthreadd', flags: 0x208040 })) as { reason: string }).reason, /kernel thread/);
  assert.equal(checkKernelThread(facts()).ok, true);
  assert.equal(statFlags('2 (kthreadd) S 0 0 0 0 -1 2129984 0 0'), 2129984);
  assert.ok((2129984 & PF_KTHREAD) !== 0);
  assert.equal(statFlags('77 (a) b) c) R 1 77 77 0 -1 4194560 5'), 4194560);
});

test('allow-list: comm, executable or cgroup (or below); empty allows nothing', () => {
  const empty = { comms: [], executables: [], cgroups: [] };
  assert.deepEqual(matchAllowList(empty, facts()), { ok: false, reason: 'the allow-list is empty: nothing is touched' });
  assert.deepEqual(matchAllowList({ ...empty, comms: ['memtouch'] }, facts()), { ok: true, by: 'comm memtouch' });
  assert.deepEqual(matchAllowList({ ...empty, executables: ['/opt/app/bin/memtouch'] }, facts()), { ok: true, by: 'executable /opt/app/bin/memtouch' });
  assert.deepEqual(matchAllowList({ ...empty, cgroups: ['/system.slice'] }, facts()), { ok: true, by: 'cgroup /system.slice' });
  const no = matchAllowList({ comms: ['postgres'], executables: ['/usr/bin/x'], cgroups: ['/system.slice/db.service'] }, facts());
  assert.equal(!no.ok && no.reason, 'pid 4242 (comm memtouch, exe /opt/app/bin/memtouch) is not on the allow-list');
  // A kernel thread's unreadable exe never matches.
  assert.equal(matchAllowList({ ...empty, executables: [''] }, facts({ exe: '' })).ok, false);
  assert.equal(cgroupUnder('/a/b', '/a'), true);
  assert.equal(cgroupUnder('/a/bc', '/a/b'), false);
  assert.equal(cgroupUnder('/a', '/a/'), true);
  assert.equal(cgroupUnder('/x', '/'), true);
  assert.equal(matchAllowedCgroup({ ...empty, cgroups: ['/batch'] }, '/batch/job-1').ok, true);
  assert.match((matchAllowedCgroup({ ...empty, cgroups: ['/batch'] }, '/web') as { reason: string }).reason, /cgroup \/web is not on the allow-list/);
  assert.match((matchAllowedCgroup(empty, '/web') as { reason: string }).reason, /allow-list is empty/);
  assert.deepEqual(parseCgroupFile('4:memory:/process_api/x\n0::/user.slice\n'), ['/process_api/x', '/user.slice']);
});

test('mapping check: inside one current mapping, not the kernel\'s', () => {
  const vmas = parseMaps(
    [
      '7f0000000000-7f0000400000 rw-p 00000000 00:00 0',
      '7f0000400000-7f0000600000 rw-p 00000000 00:00 0',
      '7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]',
    ].join('\n'),
  );
  assert.equal(checkRange(vmas, 0x7f0000000000, 4 << 20).ok, true);
  const across = checkRange(vmas, 0x7f0000200000, 4 << 20);
  assert.equal(!across.ok && across.reason, 'region 0x7f0000200000+4194304 is not inside one current mapping of the process');
  assert.match((checkRange(vmas, 0x1000, 4096) as { reason: string }).reason, /not inside one current mapping/);
  assert.match((checkRange(vmas, 0x7fff00000000, 4096) as { reason: string }).reason, /\[vdso\], which is the kernel's/);
  assert.deepEqual(regionIndexes(0x7f0000000000, 4 << 20), [0x7f0000000000 / 2 ** 21, 0x7f0000000000 / 2 ** 21 + 1]);
  assert.deepEqual(regionIndexes(0x7f00001ff000, 0x2000), [0x7f0000000000 / 2 ** 21, 0x7f0000000000 / 2 ** 21 + 1]);
});

test('hint fields the decoder leaves open are refused, never guessed at', () => {
  assert.equal(checkHintFields(hint()).ok, true);
  assert.match((checkHintFields(hint({ expiresNs: 0 })) as { reason: string }).reason, /expiresNs: missing/);
  assert.match((checkHintFields(hint({ pageSizeKb: 0 })) as { reason: string }).reason, /pageSizeKb: promote wants/);
  assert.match((checkHintFields(hint({ pageSizeKb: 1000 })) as { reason: string }).reason, /power of two/);
  assert.match((checkHintFields(hint({ region: { ...hint().region!, length: 0 } })) as { reason: string }).reason, /region.length: 0/);
  const cg = hint({ action: 'reclaim_cgroup', cgroup: '/batch/../web', bytes: 1 << 20 });
  assert.match((checkHintFields(cg) as { reason: string }).reason, /is not a cgroup path/);
  assert.match((checkHintFields({ ...cg, cgroup: '/batch', bytes: 0 }) as { reason: string }).reason, /bytes > 0/);
  assert.equal(checkHintFields({ ...cg, cgroup: '/batch' }).ok, true);
});

test('what the kernel is asked: COLLAPSE for 2 MiB promotion, COLD, PAGEOUT; the rest only in the hint map', () => {
  assert.deepEqual(enforcementOf('promote', 2048), { kind: 'madvise', advice: 25, adviceName: 'MADV_COLLAPSE' });
  assert.deepEqual(enforcementOf('mark_cold', 0), { kind: 'madvise', advice: 20, adviceName: 'MADV_COLD' });
  assert.deepEqual(enforcementOf('page_out', 0), { kind: 'madvise', advice: 21, adviceName: 'MADV_PAGEOUT' });
  assert.equal(enforcementOf('promote', 64).kind, 'map-only');
  assert.equal(enforcementOf('keep_base_pages', 4).kind, 'map-only');
  assert.equal(enforcementOf('reclaim_cgroup', 0).kind, 'reclaim');
});

test('rate limits: per process and per host, sliding over a minute; 0 allows nothing', () => {
  const r = createRateLimiter({ perProcessPerMinute: 2, perHostPerMinute: 3 });
  assert.equal(r.take('a', 0).ok, true);
  assert.equal(r.take('a', 10).ok, true);
  const third = r.take('a', 20);
  assert.equal(!third.ok && third.reason, 'rate limit: 2 actions per minute for this process reached');
  assert.equal(r.take('b', 30).ok, true);
  const host = r.take('c', 40);
  assert.equal(!host.ok && host.reason, 'rate limit: 3 actions per minute on this host reached');
  assert.equal(r.take('a', 60_001).ok, true, 'the first slot left the window');
  const none = createRateLimiter({ perProcessPerMinute: 0, perHostPerMinute: 10 });
  assert.equal(none.take('a', 0).ok, false);
  assert.equal(none.take(undefined, 0).ok, true, 'host-wide actions only count against the host');
});

test('config: defaults, the file section, and errors that name the key', () => {
  const c = feedbackConfig({ host: 'h' });
  assert.deepEqual(c.allow, { cgroups: [], executables: [], comms: [] });
  assert.equal(c.dryRun, false);
  assert.equal(c.rateLimits.perProcessPerMinute, 6);
  assert.throws(() => feedbackConfig({ host: 'h', rateLimits: { perProcessPerMinute: -1, perHostPerMinute: 1 } }), /^UsageError: rateLimits.perProcessPerMinute: wants an integer >= 0, got -1$/);
  assert.throws(() => feedbackConfig({ host: 'h', allow: { comms: ['a-name-longer-than-15'], executables: [], cgroups: [] } }), /allow.comms\[0\]: wants a command name/);
  assert.throws(() => feedbackConfig({ host: 'h', allow: { comms: [], executables: ['bin/x'], cgroups: [] } }), /allow.executables\[0\]: wants an absolute path/);
  assert.throws(() => feedbackConfig({ host: 'a|b' }), /^UsageError: host:/);
  assert.throws(() => feedbackConfig({ host: 'h', sweepIntervalMs: 5 }), /sweepIntervalMs/);
  const s = feedbackSettingsFromFile({ host: 'from-file', feedback: { allow: { comms: ['x'] }, dryRun: true, rateLimits: { perHostPerMinute: 7 } } }, {});
  assert.deepEqual(s, { host: 'from-file', allow: { cgroups: [], executables: [], comms: ['x'] }, dryRun: true, rateLimits: { perProcessPerMinute: 6, perHostPerMinute: 7 } });
});

test('memory.reclaim on a fake cgroup tree: written when there; refused with the reason when the controller is missing', () => {
  const root = mkdtempSync(join(tmpdir(), 'pageloop-cgroup-'));
  try {
    mkdirSync(join(root, 'batch', 'job'), { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
    writeFileSync(join(root, 'batch', 'job', 'memory.reclaim'), '');
    const ok = reclaimCgroup(root, '/batch/job', 64 << 20);
    assert.deepEqual(ok, { outcome: 'applied', bytes: 64 << 20, file: join(root, 'batch', 'job', 'memory.reclaim') });
    assert.equal(readFileSync(join(root, 'batch', 'job', 'memory.reclaim'), 'utf8'), String(64 << 20));
    const notEnabled = reclaimCgroup(root, '/batch', 1);
    assert.match(notEnabled.outcome === 'refused' ? notEnabled.reason : '', /memory controller is not enabled for \/batch/);
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io pids\n');
    const hybrid = reclaimFile(root, '/batch');
    assert.match(!hybrid.ok ? hybrid.reason : '', /has no memory controller \(controllers: cpu io pids\); on a hybrid host memory is on cgroup v1/);
    assert.match((reclaimFile(root, '/nope') as { reason: string }).reason, /cgroup \/nope does not exist/);
    assert.match((reclaimFile(undefined, '/x') as { reason: string }).reason, /no cgroup v2 hierarchy/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('memory.reclaim on this host: refused with the reason (its cgroup v2 has no memory controller)', () => {
  const root = findCgroup2Root(readFileSync('/proc/self/mountinfo', 'utf8'));
  const r = reclaimCgroup(root, '/', 1 << 20);
  assert.equal(r.outcome, 'refused');
  assert.match(r.outcome === 'refused' ? r.reason : '', /memory.reclaim is unavailable/);
  assert.equal(findCgroup2Root('35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n36 24 0:31 / /x rw - cgroup cgroup rw,memory'), '/sys/fs/cgroup/unified');
});

test('profiles: the best page size decides the action; names resolve in the live process or are refused', () => {
  assert.deepEqual(chooseAction({ name: { kind: 'anon' }, offset: 0, length: 1, benefit: { '4': 0, '64': 0.2, '2048': 0.9 } }), { action: 'promote', pageSizeKb: 2048, benefit: 0.9 });
  assert.deepEqual(chooseAction({ name: { kind: 'anon' }, offset: 0, length: 1, benefit: { '4': 0.1, '2048': -0.5 } }), { action: 'keep_base_pages', pageSizeKb: 4, benefit: 0.1 });
  assert.deepEqual(chooseAction({ name: { kind: 'anon' }, offset: 0, length: 1, benefit: { '64': 0.3, '2048': 0.3 } }).pageSizeKb, 64, 'a tie takes the smaller page');
  assert.deepEqual(chooseAction({ name: { kind: 'anon' }, offset: 0, length: 1, benefit: { '64': 0.3, '2048': 0.5 }, preferredSizeKb: 64 }).pageSizeKb, 64);
  const named = nameMappings(parseMaps('7f0000000000-7f0000800000 rw-p 00000000 00:00 0\n'));
  const target = { host: 'h', bootId: BOOT, pid: 4242, startNs: 1e9 };
  const planned = profileHints(
    {
      version: 1,
      regions: [
        { name: { kind: 'anon', ordinal: 0 }, offset: 2 << 20, length: 4 << 20, benefit: { '2048': 1 } },
        { name: { kind: 'anon', ordinal: 3 }, offset: 0, length: 4096, benefit: { '2048': 1 } },
      ],
    },
    target,
    named,
    77,
    '/tmp/app.profile.json',
  );
  const [first, second] = planned;
  assert.ok(first && 'hint' in first);
  assert.equal(first.hint.region!.start, 0x7f0000200000);
  assert.equal(first.hint.hintId, 'profile:app.profile.json:4242:1000000000:0');
  assert.equal(first.hint.action, 'promote');
  assert.ok(second && 'refusal' in second);
  assert.match(second.refusal, /profile region 1 anon#3\+0x0 \(4096 bytes\): no mapping named anon#3 in pid 4242/);
});
