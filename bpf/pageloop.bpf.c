// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pageloop's kernel side: page faults, fault-time huge page promotions,
 * collapses, compaction and swap, as seen through tracepoints and one perf
 * event (this kernel has neither kprobes nor fentry). Every ring-buffer write
 * goes through pl_reserve(), which counts failed reservations per CPU and per
 * family. Which programs load is decided in user space (autoload), which
 * processes count is decided at run time through the target maps.
 *
 * One file (about 750 lines) because it is one BPF object: the programs share
 * the ring buffer, the target and hint maps and the loss counters, and libbpf
 * loads an object per file (the libbpf-tools shape: one x.bpf.c per tool).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pageloop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PL_PF_KTHREAD 0x00200000 /* PF_KTHREAD, include/linux/sched.h */

/* Settings fixed at load time (written into .rodata by user space). */
const volatile __u32 fault_mode = PL_FAULT_AGGREGATED;
/* 0 when only promotions are wanted: the fault hook then just remembers the fault. */
const volatile __u32 count_faults = 1;
/* Sampled mode: major faults are added to the region counts one by one by pl_major_fault. */
const volatile __u32 majors_into_fault_stats = 0;
const volatile __u32 fault_sample_every = 1;
const volatile __u32 region_shift = 21;
const volatile __u32 self_pid = 0;
const volatile __u64 promotion_window_ns = 10000000;
const volatile __u32 nr_cpus = 1;
const volatile __u32 bench_burst = 64;
const volatile __u32 bench_pid = 0;
/* 1: the benchmark stream is made of fault records, so it can go all the way to Kafka. */
const volatile __u32 bench_as_faults = 0;

/* Sizes are defaults; user space resizes them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} pl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PL_FAMILY_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} pl_loss SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pl_runtime_config);
} pl_runtime SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pl_target_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} pl_target_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pl_fault_key);
	__type(value, struct pl_fault_stats);
} pl_fault_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pl_hint_key);
	__type(value, struct pl_hint_value);
} pl_hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pl_fault_cache);
} pl_fault_cache SEC(".maps");

/* The kernel's tick rate, read by libbpf from the kernel config; 0 if unknown. */
extern unsigned int CONFIG_HZ __kconfig __weak;

/*
 * The last user fault seen on each CPU, to tie a high-order allocation to it.
 * Its time is kept in jiffies: reading the boot clock costs more than the
 * rest of the fault program together (~85 ns of ~125 on these VMs, through
 * bpf_stats), and a tick is fine enough to tell a fault's own allocation
 * from a later one. Where the fault path reads the clock anyway (the first
 * fault of a region, raw mode), ts_ns keeps the exact time.
 */
struct last_fault {
	__u64 address;
	__u64 jiffies;
	__u64 ts_ns; /* 0: not read */
	__u32 tid;
	__u32 consumed;
	__u64 sample_counter;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_fault);
} pl_last_fault SEC(".maps");

/* Begin timestamps, per thread, for compaction and direct reclaim. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} pl_compaction_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} pl_reclaim_start SEC(".maps");

static const __u32 zero;

/* The one way into the ring buffer: a failed reservation is counted, per CPU and family. */
static __always_inline void *pl_reserve(__u32 family, __u64 size)
{
	void *record = bpf_ringbuf_reserve(&pl_events, size, 0);

	if (!record) {
		__u64 *lost = bpf_map_lookup_elem(&pl_loss, &family);

		if (lost)
			*lost += 1;
	}
	return record;
}

static __always_inline void pl_fill_header(struct pl_header *h, __u16 kind,
					   struct task_struct *subject, __u32 tid)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	h->cpu = bpf_get_smp_processor_id();
	h->tid = tid;
	h->hint = 0;
	if (subject) {
		h->pid = BPF_CORE_READ(subject, tgid);
		h->start_ns = BPF_CORE_READ(subject, group_leader, start_boottime);
	} else {
		h->pid = 0;
		h->start_ns = 0;
	}
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* Whether events about this task's process are wanted, per the run-time targets. */
static __always_inline bool pl_targeted(struct task_struct *task)
{
	struct pl_runtime_config *cfg = bpf_map_lookup_elem(&pl_runtime, &zero);
	__u32 pid;

	if (!task)
		return false;
	pid = BPF_CORE_READ(task, tgid);
	if (pid == 0 || (self_pid && pid == self_pid))
		return false;
	if (!cfg || cfg->target_mode == PL_TARGET_ALL)
		return true;
	if (cfg->target_mode == PL_TARGET_PIDS)
		return bpf_map_lookup_elem(&pl_target_pids, &pid) != NULL;
	if (cfg->target_mode == PL_TARGET_CGROUPS) {
		__u64 cgid = task_cgroup_id(task);

		return bpf_map_lookup_elem(&pl_target_cgroups, &cgid) != NULL;
	}
	return false;
}

/* A hint names its process by pid and start time: a reused pid never inherits one. */
static __always_inline __u32 hint_in_force(__u32 pid, __u64 start_ns, __u64 address)
{
	struct pl_hint_key key = { .pid = pid, .region = address >> region_shift };
	struct pl_hint_value *hint = bpf_map_lookup_elem(&pl_hints, &key);

	if (!hint || (hint->start_ns && hint->start_ns != start_ns))
		return 0;
	return hint->action;
}

/* ---- fault family --------------------------------------------------------- */

/*
 * A new region's stats entry, made from init (callers look it up first, so
 * init is only built on a miss). NULL when the table is full: the `faults`
 * faults it stood for are counted as lost.
 */
static __always_inline struct pl_fault_stats *
new_fault_stats(struct pl_fault_key *key, struct pl_fault_stats *init, __u64 faults)
{
	struct pl_fault_stats *stats;
	__u32 family = PL_FAMILY_FAULT;
	__u64 *lost;

	bpf_map_update_elem(&pl_fault_stats, key, init, BPF_NOEXIST);
	stats = bpf_map_lookup_elem(&pl_fault_stats, key);
	if (stats)
		return stats;
	lost = bpf_map_lookup_elem(&pl_loss, &family);
	if (lost)
		*lost += faults;
	return NULL;
}

static __always_inline void flush_fault_cache(struct pl_fault_cache *c)
{
	struct pl_fault_key key = { .pid = c->pid, .region = c->region };
	struct pl_fault_stats *stats;

	if (!c->faults)
		return;
	stats = bpf_map_lookup_elem(&pl_fault_stats, &key);
	if (!stats) {
		struct pl_fault_stats init = {
			.first_ns = c->first_ns,
			.start_ns = c->start_ns,
			.sample_period = 1,
		};

		stats = new_fault_stats(&key, &init, c->faults);
		if (!stats)
			return;
	}
	__sync_fetch_and_add(&stats->faults, c->faults);
	__sync_fetch_and_add(&stats->write_faults, c->write_faults);
	__sync_fetch_and_add(&stats->instr_faults, c->instr_faults);
	__sync_fetch_and_add(&stats->prot_faults, c->prot_faults);
	stats->last_ns = bpf_ktime_get_boot_ns();
	stats->hint = hint_in_force(c->pid, c->start_ns, c->region << region_shift);
}

static __always_inline void count_fault(struct pl_fault_cache *c, __u64 error_code)
{
	c->faults++;
	if (error_code & PL_PF_WRITE)
		c->write_faults++;
	if (error_code & PL_PF_INSTR)
		c->instr_faults++;
	if (error_code & PL_PF_PROT)
		c->prot_faults++;
}

static __always_inline void emit_raw_fault(struct task_struct *task, __u64 address,
					   struct pt_regs *regs, __u64 error_code,
					   struct last_fault *last)
{
	struct pl_fault_event *e;

	if (fault_sample_every > 1) {
		if (++last->sample_counter % fault_sample_every)
			return;
	}
	e = pl_reserve(PL_FAMILY_FAULT, sizeof(*e));
	if (!e)
		return;
	pl_fill_header(&e->h, PL_KIND_FAULT, task, (__u32)BPF_CORE_READ(task, pid));
	last->ts_ns = e->h.ts_ns;
	e->h.hint = hint_in_force(e->h.pid, e->h.start_ns, address);
	e->address = address;
	e->ip = BPF_CORE_READ(regs, ip);
	e->error_code = error_code;
	e->sample_weight = fault_sample_every;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(pl_page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_runtime_config *cfg;
	struct last_fault *last;
	struct pl_fault_cache *c;
	__u32 pid = task->tgid;
	__u64 region;

	/* Remember the fault for the promotion program, whatever the targets. */
	last = bpf_map_lookup_elem(&pl_last_fault, &zero);
	if (last) {
		last->address = address;
		last->jiffies = bpf_jiffies64();
		last->ts_ns = 0;
		last->tid = task->pid;
		last->consumed = 0;
	}

	if (!count_faults)
		return 0;
	c = bpf_map_lookup_elem(&pl_fault_cache, &zero);
	cfg = bpf_map_lookup_elem(&pl_runtime, &zero);
	if (!c || !cfg)
		return 0;

	if (fault_mode == PL_FAULT_RAW) {
		if (pl_targeted(task) && last)
			emit_raw_fault(task, address, regs, error_code, last);
		return 0;
	}

	region = address >> region_shift;
	if (c->pid == pid && c->generation == cfg->generation) {
		if (!c->targeted)
			return 0;
		if (c->region == region) {
			count_fault(c, error_code);
			return 0;
		}
	}

	/* The (process, region) changed: move the pending counts to the hash map. */
	if (c->targeted)
		flush_fault_cache(c);
	if (c->pid != pid || c->generation != cfg->generation) {
		c->targeted = pl_targeted(task);
		c->start_ns = task->group_leader->start_boottime;
	}
	c->pid = pid;
	c->generation = cfg->generation;
	c->region = region;
	c->faults = 0;
	c->write_faults = 0;
	c->instr_faults = 0;
	c->prot_faults = 0;
	if (c->targeted) {
		c->first_ns = bpf_ktime_get_boot_ns();
		if (last)
			last->ts_ns = c->first_ns;
		count_fault(c, error_code);
	}
	return 0;
}

/*
 * Sampled mode: a perf event on PERF_COUNT_SW_PAGE_FAULTS_MIN, which the
 * kernel raises as it accounts a completed minor fault (the count minflt
 * is), runs this program once every sample period of faults. Its perf
 * events are opened per target (per thread of a target process, per target
 * cgroup, or per CPU for every process), so the kernel itself rejects
 * faults of other processes before any program runs; the check here only
 * covers the moments a retarget is under way. Each sample counts for the
 * period's faults: the region's counts are estimates labelled with it.
 */
static __always_inline void add_fault_sample(struct task_struct *task, __u64 address,
					     __u64 error_code, __u64 weight)
{
	struct pl_fault_key key = { .pid = task->tgid, .region = address >> region_shift };
	struct pl_fault_stats *stats;
	__u64 now = bpf_ktime_get_boot_ns();

	stats = bpf_map_lookup_elem(&pl_fault_stats, &key);
	if (!stats) {
		struct pl_fault_stats init = {
			.first_ns = now,
			.start_ns = task->group_leader->start_boottime,
			.sample_period = weight,
		};

		stats = new_fault_stats(&key, &init, weight);
		if (!stats)
			return;
	}
	__sync_fetch_and_add(&stats->faults, weight);
	if (error_code & PL_PF_WRITE)
		__sync_fetch_and_add(&stats->write_faults, weight);
	if (error_code & PL_PF_INSTR)
		__sync_fetch_and_add(&stats->instr_faults, weight);
	if (error_code & PL_PF_PROT)
		__sync_fetch_and_add(&stats->prot_faults, weight);
	if (weight > stats->sample_period)
		stats->sample_period = weight;
	stats->last_ns = now;
	stats->hint = hint_in_force(key.pid, stats->start_ns, address);
}

SEC("perf_event")
int pl_fault_sample(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 pid = task->tgid;

	if (pid == 0 || (self_pid && pid == self_pid))
		return 0;
	if (!pl_targeted(task))
		return 0;
	/* x86 keeps a fault's error code in orig_ax of its pt_regs. */
	add_fault_sample(task, ctx->addr, ctx->regs.orig_ax, ctx->sample_period);
	return 0;
}

/* ---- promotion family ----------------------------------------------------- */

static __always_inline __u64 tick_ns(void)
{
	return 1000000000ULL / (CONFIG_HZ ? CONFIG_HZ : 1000);
}

/* Find this thread's latest unconsumed fault on any CPU (it may have migrated). */
static __always_inline struct last_fault *find_own_fault(__u32 tid, __u64 now_jiffies)
{
	/* The window rounded up to whole ticks, plus the tick the fault began in. */
	__u64 window = (promotion_window_ns + tick_ns() - 1) / tick_ns() + 1;
	struct last_fault *best = NULL;

	for (__u32 cpu = 0; cpu < PL_MAX_CPUS; cpu++) {
		struct last_fault *f;

		if (cpu >= nr_cpus)
			break;
		f = bpf_map_lookup_percpu_elem(&pl_last_fault, &zero, cpu);
		if (!f || f->tid != tid || f->consumed)
			continue;
		if (now_jiffies - f->jiffies > window)
			continue;
		if (!best || f->jiffies > best->jiffies)
			best = f;
	}
	return best;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(pl_mm_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype)
{
	struct pl_promotion_event *e;
	struct task_struct *task;
	struct last_fault *fault;
	__u64 now_jiffies;

	/* Cheap exits first: this runs for every page the kernel allocates. */
	if (order == 0 || migratetype != MIGRATE_MOVABLE)
		return 0;
	task = bpf_get_current_task_btf();
	if (task->flags & PL_PF_KTHREAD)
		return 0;
	now_jiffies = bpf_jiffies64();
	fault = find_own_fault(task->pid, now_jiffies);
	if (!fault || !pl_targeted(task))
		return 0;

	e = pl_reserve(PL_FAMILY_PROMOTION, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_PROMOTION, task, task->pid);
	e->address = fault->address & ~((4096ULL << order) - 1);
	e->h.hint = hint_in_force(e->h.pid, e->h.start_ns, e->address);
	/* Exact when the fault path read the clock, else to the tick. */
	e->fault_ns = fault->ts_ns ? fault->ts_ns : e->h.ts_ns - (now_jiffies - fault->jiffies) * tick_ns();
	e->order = order;
	e->gfp = gfp_flags;
	e->failed = page == NULL;
	e->migratetype = migratetype;
	/* One fault backs one folio; a failure lets the retry at a lower order match. */
	if (page)
		fault->consumed = 1;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- collapse family ------------------------------------------------------ */

SEC("tp_btf/mm_collapse_huge_page")
int BPF_PROG(pl_mm_collapse_huge_page, struct mm_struct *mm, int isolated, int status)
{
	struct task_struct *owner = BPF_CORE_READ(mm, owner);
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_collapse_event *e;

	if (!pl_targeted(owner))
		return 0;
	e = pl_reserve(PL_FAMILY_COLLAPSE, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_COLLAPSE, owner, task->pid);
	e->status = status;
	e->isolated = isolated;
	e->caller_pid = task->tgid;
	e->pad = 0;
	bpf_get_current_comm(e->caller_comm, sizeof(e->caller_comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- compaction family ---------------------------------------------------- */

/* Compaction has no process of its own: the task that ran it (a stalled
 * allocator, kcompactd, or a writer of compact_memory) is the subject, and
 * compaction is counted whatever the targets, since its cost is the host's. */
SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(pl_mm_compaction_begin, struct compact_control *cc, unsigned long zone_start,
	     unsigned long zone_end, bool sync)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_boot_ns();

	bpf_map_update_elem(&pl_compaction_start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(pl_mm_compaction_end, struct compact_control *cc, unsigned long zone_start,
	     unsigned long zone_end, bool sync, int status)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = task->pid;
	struct pl_compaction_event *e;
	__u64 *start;

	start = bpf_map_lookup_elem(&pl_compaction_start, &tid);
	e = pl_reserve(PL_FAMILY_COMPACTION, sizeof(*e));
	if (!e)
		goto out;
	pl_fill_header(&e->h, PL_KIND_COMPACTION, task, tid);
	e->duration_ns = start ? e->h.ts_ns - *start : 0;
	e->zone_start_pfn = zone_start;
	e->zone_end_pfn = zone_end;
	e->migrate_scanned = cc->total_migrate_scanned;
	e->free_scanned = cc->total_free_scanned;
	e->status = status;
	e->order = cc->order;
	e->sync = sync;
	e->direct = cc->direct_compaction;
	e->proactive = cc->proactive_compaction;
	e->kthread = !!(task->flags & PL_PF_KTHREAD);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
out:
	if (start)
		bpf_map_delete_elem(&pl_compaction_start, &tid);
	return 0;
}

static __always_inline int emit_defer(struct zone *zone, int order, __u32 defer)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_compaction_defer_event *e;

	e = pl_reserve(PL_FAMILY_COMPACTION, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_COMPACTION_DEFER, task, task->pid);
	e->order = order;
	e->node = BPF_CORE_READ(zone, zone_pgdat, node_id);
	e->considered = BPF_CORE_READ(zone, compact_considered);
	e->defer_shift = BPF_CORE_READ(zone, compact_defer_shift);
	e->order_failed = BPF_CORE_READ(zone, compact_order_failed);
	e->defer = defer;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/mm_compaction_defer_compaction")
int BPF_PROG(pl_mm_compaction_defer_compaction, struct zone *zone, int order)
{
	return emit_defer(zone, order, 1);
}

SEC("tp_btf/mm_compaction_deferred")
int BPF_PROG(pl_mm_compaction_deferred, struct zone *zone, int order)
{
	return emit_defer(zone, order, 0);
}

SEC("tp_btf/mm_compaction_wakeup_kcompactd")
int BPF_PROG(pl_mm_compaction_wakeup_kcompactd, int nid, int order, enum zone_type zone_type)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_kcompactd_wake_event *e;

	e = pl_reserve(PL_FAMILY_COMPACTION, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_KCOMPACTD_WAKE, task, task->pid);
	e->node = nid;
	e->order = order;
	e->zone_type = zone_type;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- swap family ---------------------------------------------------------- */

#define PL_MAPPING_ANON 0x1UL
#define PL_MAPPING_FLAGS 0x3UL

/*
 * The process an anonymous folio belongs to, and its address there: the
 * folio's anon_vma -> the first vma in its interval tree -> that vma's mm
 * owner. A folio shared after fork names one of its owners.
 */
static __always_inline struct task_struct *anon_folio_owner(struct folio *folio, __u64 *address)
{
	unsigned long mapping = (unsigned long)BPF_CORE_READ(folio, mapping);
	struct anon_vma_chain *avc;
	struct vm_area_struct *vma;
	struct anon_vma *av;
	struct rb_node *node;
	__u64 start, end, pgoff, index;

	*address = 0;
	if (!(mapping & PL_MAPPING_ANON))
		return NULL;
	av = (struct anon_vma *)(mapping & ~PL_MAPPING_FLAGS);
	node = BPF_CORE_READ(av, rb_root.rb_root.rb_node);
	if (!node)
		return NULL;
	avc = container_of(node, struct anon_vma_chain, rb);
	vma = BPF_CORE_READ(avc, vma);
	if (!vma)
		return NULL;
	start = BPF_CORE_READ(vma, vm_start);
	end = BPF_CORE_READ(vma, vm_end);
	pgoff = BPF_CORE_READ(vma, vm_pgoff);
	index = BPF_CORE_READ(folio, index);
	if (index >= pgoff && start + ((index - pgoff) << 12) < end)
		*address = start + ((index - pgoff) << 12);
	return BPF_CORE_READ(vma, vm_mm, owner);
}

/* A large folio has PG_head set and its order in _flags_1's low byte. The
 * flags word is read raw: its type changed (memdesc_flags_t) across kernels. */
static __always_inline __u32 folio_pages(struct folio *folio)
{
	unsigned long flags = 0;

	bpf_probe_read_kernel(&flags, sizeof(flags), &folio->flags);
	if (!(flags & (1UL << PG_head)))
		return 1;
	return 1U << (BPF_CORE_READ(folio, _flags_1) & 0xff);
}

SEC("tp_btf/mm_vmscan_write_folio")
int BPF_PROG(pl_mm_vmscan_write_folio, struct folio *folio)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *owner;
	struct pl_swap_out_event *e;
	__u64 address;

	owner = anon_folio_owner(folio, &address);
	if (!owner || !pl_targeted(owner))
		return 0;
	e = pl_reserve(PL_FAMILY_SWAP, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_SWAP_OUT, owner, task->pid);
	e->h.hint = hint_in_force(e->h.pid, e->h.start_ns, address);
	e->address = address;
	e->pages = folio_pages(folio);
	e->anon = 1;
	e->reclaimer_pid = task->tgid;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static long backing_of_vma(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	__u32 *backing = data;

	*backing = vma->vm_file ? PL_BACKING_FILE : PL_BACKING_ANON;
	return 0;
}

/* Attached to PERF_COUNT_SW_PAGE_FAULTS_MAJ on every CPU: the faulting task is current. */
SEC("perf_event")
int pl_major_fault(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_swap_in_event *e;
	__u32 backing = PL_BACKING_UNKNOWN;
	__u64 address = ctx->addr;

	if (!pl_targeted(task))
		return 0;
	if (majors_into_fault_stats)
		add_fault_sample(task, address, ctx->regs.orig_ax, 1);
	bpf_find_vma(task, address, backing_of_vma, &backing, 0);
	e = pl_reserve(PL_FAMILY_SWAP, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_SWAP_IN, task, task->pid);
	e->h.hint = hint_in_force(e->h.pid, e->h.start_ns, address);
	e->address = address;
	e->backing = backing;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Off by default: rss_stat fires on every RSS change, so on every fault. */
SEC("tp_btf/rss_stat")
int BPF_PROG(pl_rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pl_swap_entries_event *e;
	struct task_struct *owner;

	if (member != MM_SWAPENTS)
		return 0;
	owner = BPF_CORE_READ(mm, owner);
	if (!pl_targeted(owner))
		return 0;
	e = pl_reserve(PL_FAMILY_SWAP, sizeof(*e));
	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_SWAP_ENTRIES, owner, task->pid);
	/* The percpu counter's shared part: what the kernel's own tracepoint prints. */
	e->count = BPF_CORE_READ(mm, rss_stat[MM_SWAPENTS].count);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(pl_direct_reclaim_begin, int order, gfp_t gfp_flags)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_boot_ns();

	bpf_map_update_elem(&pl_reclaim_start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(pl_direct_reclaim_end, unsigned long nr_reclaimed)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = task->pid;
	struct pl_reclaim_event *e;
	__u64 *start;

	start = bpf_map_lookup_elem(&pl_reclaim_start, &tid);
	if (!start)
		return 0;
	if (pl_targeted(task)) {
		e = pl_reserve(PL_FAMILY_SWAP, sizeof(*e));
		if (e) {
			pl_fill_header(&e->h, PL_KIND_RECLAIM, task, tid);
			e->duration_ns = e->h.ts_ns - *start;
			e->nr_reclaimed = nr_reclaimed;
			e->order = 0;
			e->gfp = 0;
			bpf_ringbuf_submit(e, 0);
		}
	}
	bpf_map_delete_elem(&pl_reclaim_start, &tid);
	return 0;
}

/* ---- drain benchmark ------------------------------------------------------ */

/* A burst of synthetic records per getpid() of the bench_pid process: a stream
 * whose rate is set by user space, to measure draining alone. */
static long emit_bench_record(__u64 index, void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (bench_as_faults) {
		struct pl_fault_event *f = pl_reserve(PL_FAMILY_FAULT, sizeof(*f));

		if (!f)
			return 0;
		pl_fill_header(&f->h, PL_KIND_FAULT, task, task->pid);
		f->address = 0x7f0000000000ULL + (index << 12);
		f->ip = 0x400000;
		f->error_code = PL_PF_USER | PL_PF_WRITE;
		f->sample_weight = 1;
		bpf_ringbuf_submit(f, 0);
		return 0;
	}

	struct pl_bench_event *e = pl_reserve(PL_FAMILY_FAULT, sizeof(*e));

	if (!e)
		return 0;
	pl_fill_header(&e->h, PL_KIND_BENCH, task, task->pid);
	e->seq = index;
	e->payload[0] = 0;
	e->payload[1] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(pl_bench_sys_enter, struct pt_regs *regs, long id)
{
	if (id != 39 /* __NR_getpid on x86_64 */ || (bpf_get_current_pid_tgid() >> 32) != bench_pid)
		return 0;
	bpf_loop(bench_burst, emit_bench_record, NULL, 0);
	return 0;
}

/* ---- overhead benchmark --------------------------------------------------- */

/* Does nothing: attached alone, it measures what any program on the fault
 * path costs (the tracepoint's call into BPF), the floor under pl_page_fault_user. */
SEC("tp_btf/page_fault_user")
int BPF_PROG(pl_bench_null_fault)
{
	return 0;
}
