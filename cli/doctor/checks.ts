/**
 * Facts to verdicts: one Check per feature, in report order (the kernel
 * version, the must-haves, then the optional features), each with the
 * words of its detail and, when not ok, its fix. Pure.
 */
import {
  CAP_BPF,
  CAP_PERFMON,
  CAP_SYS_ADMIN,
  CAP_SYS_NICE,
  CAP_SYS_PTRACE,
  hasCap,
  kernelAtLeast,
  tracepointStatus,
  type BpfFacts,
} from './bpf-probe.js';
import { PATHS, type Check } from './host.js';
import type { MemoryFacts, MthpSize, PsiLine } from './memory-probe.js';

/** Everything doctor learns about the host: the BPF side, then the memory features. */
export type HostFacts = BpfFacts & MemoryFacts;

function check(
  id: string,
  title: string,
  mustHave: boolean,
  good: boolean,
  detail: string,
  fix: string,
): Check {
  // Only must-haves are ever 'missing'; an absent optional feature is a warning.
  return good ? { id, title, status: 'ok', mustHave, detail } : { id, title, status: mustHave ? 'missing' : 'warn', mustHave, detail, fix };
}

const yesNo = (b: boolean | null, what: string): string => (b === null ? `${what}: unknown` : `${what}: ${b ? 'yes' : 'no'}`);

function kb(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} GiB` : n >= 1024 ? `${n / 1024} MiB` : `${n} KiB`;
}

/** Groups mTHP sizes by their effective anonymous setting: "2048kB: inherit (madvise); 16-1024kB: never". */
function describeMthp(sizes: readonly MthpSize[]): string {
  const groups = new Map<string, number[]>();
  for (const s of sizes) {
    const label = s.enabled === null ? 'shmem only' : s.enabled === 'inherit' ? `inherit (${s.effective ?? '?'})` : s.enabled;
    groups.set(label, [...(groups.get(label) ?? []), s.sizeKb]);
  }
  return [...groups].map(([label, kbs]) => `${kbs.join(', ')}kB: ${label}`).join('; ');
}

/** Turns facts into verdicts: the kernel version, then the must-haves, then the rest. Pure. */
export function checksFor(h: HostFacts): Check[] {
  const checks: Check[] = [];
  const caps = h.capEff === null ? null : BigInt('0x' + h.capEff);
  const cap = (bit: number) => caps !== null && hasCap(caps, bit);

  // The version first: it explains most of what follows. Not a must-have by itself.
  checks.push(kernelCheck(h));

  // ---- must-haves
  {
    const names = [
      ['CAP_SYS_ADMIN', CAP_SYS_ADMIN],
      ['CAP_BPF', CAP_BPF],
      ['CAP_PERFMON', CAP_PERFMON],
    ] as const;
    const held = names.filter(([, bit]) => cap(bit)).map(([n]) => n);
    // CAP_SYS_ADMIN still implies BPF and perf rights (kernels before 5.8 know nothing else).
    const good = cap(CAP_SYS_ADMIN) || (cap(CAP_BPF) && cap(CAP_PERFMON));
    const who = h.uid === null ? 'uid unknown' : h.uid === 0 ? 'root (uid 0)' : `uid ${h.uid}`;
    const detail = caps === null ? 'cannot read /proc/self/status' : `${who}, effective capabilities: ${held.join(', ') || 'none of CAP_SYS_ADMIN/CAP_BPF/CAP_PERFMON'}`;
    checks.push(
      check('privileges', 'BPF privileges', true, good, detail,
        'run pageloop as root, or give it CAP_BPF and CAP_PERFMON (e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON)'),
    );
  }
  checks.push(
    check('btf', 'Kernel BTF', true, h.btfBytes !== null,
      h.btfBytes === null ? '/sys/kernel/btf/vmlinux is missing or unreadable' : `/sys/kernel/btf/vmlinux (${(h.btfBytes / 1024 / 1024).toFixed(1)} MiB)`,
      'boot a kernel built with CONFIG_DEBUG_INFO_BTF=y: tp_btf programs attach by BTF type'),
  );
  checks.push(bpfSyscallCheck(h));
  for (const tp of h.tracepoints) {
    const status = tracepointStatus(tp, tp.inBtf, tp.inTracefs);
    const where = [
      tp.inBtf === null ? 'BTF unreadable' : tp.inBtf ? `btf_trace_${tp.name} in BTF` : `no btf_trace_${tp.name} in BTF`,
      tp.inTracefs === null ? 'tracefs not mounted' : tp.inTracefs ? 'in tracefs' : 'not in tracefs',
    ].join('; ');
    const base = { id: `tp:${tp.subsystem}/${tp.name}`, title: `tracepoint ${tp.subsystem}:${tp.name}`, mustHave: tp.mustHave };
    checks.push(
      status === 'ok'
        ? { ...base, status, detail: `${where} (for ${tp.usedBy})` }
        : {
            ...base,
            status,
            detail: `${where}; without it: ${tp.usedBy}`,
            fix:
              tp.inBtf === null
                ? 'make kernel BTF available (see the btf check)'
                : `this kernel lacks the tracepoint; use a kernel that has it, or trace without it (pageloop trace --events <other families>)`,
          },
    );
  }

  // ---- optional
  // tp_btf attaches by BTF id, so tracefs is only the second witness for the tracepoints.
  checks.push(
    h.tracefs === null && h.tracefsMount !== null
      ? {
          id: 'tracefs',
          title: 'tracefs',
          status: 'warn',
          mustHave: false,
          detail: `mounted at ${h.tracefsMount} but not readable by this process`,
          fix: 'run as root to read tracefs (tp_btf programs attach without it)',
        }
      : check('tracefs', 'tracefs', false, h.tracefs !== null,
          h.tracefs === null ? 'not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing (tp_btf programs attach without it)' : `mounted at ${h.tracefs}`,
          'mount -t tracefs nodev /sys/kernel/tracing'),
  );
  checks.push(
    check('perf-events', 'perf events (major faults)', false, h.perfEventParanoid !== null && h.softwarePmu,
      `${h.perfEventParanoid === null ? 'perf_event_paranoid unreadable' : `perf_event_paranoid=${h.perfEventParanoid}`}; software PMU (PERF_COUNT_SW_PAGE_FAULTS_MAJ): ${h.softwarePmu ? 'yes' : 'no'}`,
      'use a kernel with CONFIG_PERF_EVENTS=y; without it there are no swap-in (major fault) events'),
  );
  checks.push(
    check('bpffs', 'bpffs', false, h.bpffs !== null,
      h.bpffs === null ? 'no bpf filesystem at /sys/fs/bpf (maps cannot be pinned for the feedback agent)' : `mounted at ${h.bpffs}`,
      'mount -t bpf bpf /sys/fs/bpf'),
  );
  checks.push(...thpChecks(h));
  checks.push(...damonChecks(h));
  checks.push(...swapChecks(h));
  {
    const nb = h.numaBalancing;
    const modes: Record<number, string> = { 0: 'off', 1: 'on', 2: 'memory tiering', 3: 'on + memory tiering' };
    const nodes = h.numaNodes === null ? '' : `, ${h.numaNodes} NUMA node${h.numaNodes === 1 ? '' : 's'}`;
    checks.push(
      check('numa-balancing', 'NUMA balancing', false, nb !== null && nb !== 0,
        nb === null ? 'kernel.numa_balancing absent (CONFIG_NUMA_BALANCING off)' : `kernel.numa_balancing=${nb} (${modes[nb] ?? '?'})${nodes}`,
        nb === null
          ? 'no hinting faults on this kernel: access data has to come from DAMON, clear_refs or refaults'
          : 'sysctl -w kernel.numa_balancing=1 to sample accesses as hinting faults (costs some faults; optional)'),
    );
  }
  {
    const p = h.psiMemory;
    const line = (name: string, l: PsiLine) => `${name} avg10=${l.avg10.toFixed(2)} total=${l.totalUs}us`;
    checks.push(
      check('psi', 'PSI memory pressure', false, p !== null,
        p === null ? '/proc/pressure/memory missing or unreadable' : [line('some', p.some), ...(p.full ? [line('full', p.full)] : [])].join(', '),
        'boot with psi=1 (a kernel with CONFIG_PSI=y)'),
    );
  }
  checks.push(cgroupCheck(h));
  {
    const good = cap(CAP_SYS_NICE) && cap(CAP_SYS_PTRACE);
    checks.push(
      check('feedback-privileges', 'process_madvise privileges', false, good,
        good ? 'CAP_SYS_NICE and CAP_SYS_PTRACE: the feedback agent may act on other processes' : 'missing CAP_SYS_NICE and/or CAP_SYS_PTRACE: process_madvise on other processes will fail',
        'run the feedback agent as root, or with CAP_SYS_NICE and CAP_SYS_PTRACE'),
    );
  }
  // One key order for every check, so the JSON reads the same throughout.
  return checks.map(({ id, title, status, mustHave, detail, fix }) => (fix === undefined ? { id, title, status, mustHave, detail } : { id, title, status, mustHave, detail, fix }));
}

function bpfSyscallCheck(h: HostFacts): Check {
  // kernel.bpf_stats_enabled only exists with CONFIG_BPF_SYSCALL; as root, unprivileged_bpf_disabled does not matter.
  return h.bpfStatsPresent
    ? {
        id: 'bpf-syscall',
        title: 'BPF syscall',
        status: 'ok',
        mustHave: true,
        detail: `kernel.bpf_stats_enabled present; JIT ${h.bpfJitEnabled === null ? 'unknown' : h.bpfJitEnabled === 0 ? 'off (interpreter)' : 'on'}`,
      }
    : {
        id: 'bpf-syscall',
        title: 'BPF syscall',
        status: 'missing',
        mustHave: true,
        detail: '/proc/sys/kernel/bpf_stats_enabled absent: no bpf() syscall',
        fix: 'use a kernel built with CONFIG_BPF_SYSCALL=y',
      };
}

function kernelCheck(h: HostFacts): Check {
  const k = h.kernel;
  const base = { id: 'kernel', title: 'Kernel version', mustHave: false };
  if (k === null) {
    return { ...base, status: 'warn', detail: '/proc/sys/kernel/osrelease unreadable', fix: 'check that /proc is mounted' };
  }
  const mthp = kernelAtLeast(k, 6, 8) ? ', per-size mTHP (≥ 6.8)' : '';
  if (kernelAtLeast(k, 6, 1)) {
    return { ...base, status: 'ok', detail: `${k.release}: process_madvise (≥ 5.10) and MADV_COLLAPSE (≥ 6.1)${mthp}` };
  }
  const lacks = kernelAtLeast(k, 5, 10) ? 'no MADV_COLLAPSE (needs 6.1): hints cannot promote regions' : 'no process_madvise (needs 5.10) nor MADV_COLLAPSE (needs 6.1): hints cannot be acted on';
  return { ...base, status: 'warn', detail: `${k.release}: ${lacks}`, fix: 'upgrade to Linux 6.1 or later' };
}

function thpChecks(h: HostFacts): Check[] {
  const t = h.thp;
  if (t === null) {
    const detail = `${PATHS.thp} absent: no transparent huge pages`;
    const fix = 'use a kernel with CONFIG_TRANSPARENT_HUGEPAGE=y';
    return [
      { id: 'thp', title: 'Transparent huge pages', status: 'warn', mustHave: false, detail, fix },
      { id: 'mthp', title: 'mTHP sizes', status: 'warn', mustHave: false, detail, fix },
      { id: 'khugepaged', title: 'khugepaged', status: 'warn', mustHave: false, detail, fix },
    ];
  }
  const out: Check[] = [];
  const pmd = t.pmdSizeKb === null ? '' : `, PMD size ${t.pmdSizeKb}kB`;
  out.push(
    check('thp', 'Transparent huge pages', false, t.enabled !== null && t.enabled !== 'never',
      `enabled=${t.enabled ?? '?'}, defrag=${t.defrag ?? '?'}, shmem_enabled=${t.shmemEnabled ?? '?'}${pmd}`,
      `echo madvise > ${PATHS.thp}/enabled (or always): with 'never' no huge page is ever given at fault time`),
  );
  out.push(
    check('mthp', 'mTHP sizes', false, t.sizes.length > 0,
      t.sizes.length > 0 ? describeMthp(t.sizes) : 'no hugepages-<size>kB controls (kernel before 6.8): only PMD-sized THP',
      'Linux 6.8 or later for multi-size THP (e.g. 64 KiB pages)'),
  );
  const kh = t.khugepaged;
  const keys = ['pages_to_scan', 'scan_sleep_millisecs', 'max_ptes_none', 'max_ptes_swap', 'defrag', 'pages_collapsed', 'full_scans'];
  out.push(
    check('khugepaged', 'khugepaged', false, kh !== null,
      kh === null ? `${PATHS.thp}/khugepaged absent` : keys.filter((k) => k in kh).map((k) => `${k}=${kh[k]}`).join(', '),
      'use a kernel with CONFIG_TRANSPARENT_HUGEPAGE=y'),
  );
  return out;
}

function damonChecks(h: HostFacts): Check[] {
  const d = h.damon;
  const ops = d.operations.length > 0 ? d.operations.join(', ') : 'none found';
  const from = d.operationsSource === 'sysfs' ? 'avail_operations' : d.operationsSource === 'btf' ? 'DAMON functions in BTF' : 'unknown';
  const kds = d.kdamonds.map((k) => `kdamond ${k.id} ${k.state ?? '?'}${k.pid !== null && k.pid > 0 ? ` pid ${k.pid}` : ''}${k.operations.length ? ` (${k.operations.join(', ')})` : ''}`);
  const detail =
    d.interface === 'none'
      ? 'no DAMON (neither /sys/kernel/mm/damon/admin nor debugfs damon)'
      : [
          `${d.interface === 'sysfs' ? 'sysfs interface' : 'debugfs interface only (deprecated)'}`,
          `operations: ${ops} (from ${from})`,
          kds.length > 0 ? kds.join(', ') : 'no kdamonds',
          yesNo(d.aggregatedTracepoint, 'damon_aggregated tracepoint'),
        ].join('; ');
  const vaddr = d.operations.includes('vaddr');
  return [
    check('damon', 'DAMON', false, d.interface === 'sysfs', detail,
      d.interface === 'debugfs' ? 'use a kernel with CONFIG_DAMON_SYSFS=y' : 'use a kernel with CONFIG_DAMON=y and CONFIG_DAMON_SYSFS=y'),
    check('damon-vaddr', 'DAMON virtual-address monitoring', false, vaddr,
      vaddr ? 'vaddr operations set present: per-process access frequency available' : `no vaddr operations set (have: ${ops})`,
      'use a kernel with CONFIG_DAMON_VADDR=y; until then access data comes from NUMA-balancing hinting faults, clear_refs and refaults'),
  ];
}

function swapChecks(h: HostFacts): Check[] {
  const devices = h.swaps.map((s) => `${s.path} (${s.type}, ${kb(s.sizeKb)}, ${kb(s.usedKb)} used, prio ${s.priority})`);
  const idleZram = h.zram.find((z) => z.disksizeBytes === 0);
  const swapFix = idleZram
    ? `echo 1G > /sys/block/${idleZram.name}/disksize && mkswap /dev/${idleZram.name} && swapon /dev/${idleZram.name}`
    : h.zramControl
      ? 'add a zram device (cat /sys/class/zram-control/hot_add prints its number N), then echo 1G > /sys/block/zramN/disksize && mkswap /dev/zramN && swapon /dev/zramN'
      : 'modprobe zram && echo 1G > /sys/block/zram0/disksize && mkswap /dev/zram0 && swapon /dev/zram0';
  const zram = h.zram.map(
    (z) => `${z.name} (${z.disksizeBytes === null ? 'size ?' : z.disksizeBytes === 0 ? 'not set up' : kb(z.disksizeBytes / 1024)}${z.compAlgorithm ? `, ${z.compAlgorithm}` : ''}${z.swap ? ', swap' : ''})`,
  );
  return [
    check('swap', 'Swap', false, h.swaps.length > 0,
      h.swaps.length > 0 ? devices.join(', ') : 'no swap device in /proc/swaps: anonymous pages cannot be swapped out, so no swap events',
      swapFix),
    check('zram', 'zram', false, h.zram.length > 0 || h.zramControl,
      h.zram.length > 0 || h.zramControl ? `${zram.length > 0 ? zram.join(', ') : 'no devices'}; zram-control: ${h.zramControl ? 'yes' : 'no'}` : 'zram module not loaded',
      'modprobe zram'),
  ];
}

function cgroupCheck(h: HostFacts): Check {
  const c = h.cgroup;
  const base = { id: 'cgroup', title: 'cgroups', mustHave: false };
  const v2c = c.v2Controllers === null ? '?' : c.v2Controllers.join(' ') || 'none';
  const memoryOnV2 = c.v2Controllers?.includes('memory') ?? false;
  const unifiedFix = 'boot with systemd.unified_cgroup_hierarchy=1 (and cgroup_no_v1=all) so the memory controller is on cgroup v2';
  switch (c.version) {
    case 'v2':
      return memoryOnV2
        ? { ...base, status: 'ok', detail: `v2 at ${c.unifiedMount}; controllers: ${v2c}` }
        : { ...base, status: 'warn', detail: `v2 at ${c.unifiedMount} without the memory controller (controllers: ${v2c}): no memory.reclaim`, fix: `enable it: echo +memory > ${c.unifiedMount}/cgroup.subtree_control` };
    case 'hybrid':
      return memoryOnV2
        ? { ...base, status: 'ok', detail: `hybrid: cgroup2 at ${c.unifiedMount} (controllers: ${v2c}); v1: ${c.v1Controllers.join(', ')}` }
        : {
            ...base,
            status: 'warn',
            detail: `hybrid: cgroup2 at ${c.unifiedMount} (controllers: ${v2c}); v1: ${c.v1Controllers.join(', ')}. The memory controller is on v1, so memory.reclaim (proactive reclaim) is unavailable; --cgroup targeting by cgroup2 path still works`,
            fix: unifiedFix,
          };
    case 'v1':
      return { ...base, status: 'warn', detail: `v1 only (${c.v1Controllers.join(', ')}): no --cgroup targeting, no memory.reclaim`, fix: unifiedFix };
    case 'none':
      return { ...base, status: 'warn', detail: 'no cgroup filesystem mounted', fix: 'mount -t cgroup2 none /sys/fs/cgroup' };
  }
}
