// memtouch: a small workload the tests and benchmarks drive over stdin, one
// command per line, one reply line per command ("ok ..." or "err ...").
// It faults only where told to, so the kernel's counters for this process
// (minflt, majflt, smaps) can be compared exactly with what the probes saw.
//
//   map NAME MIB [hugepage|nohugepage|plain]   -> ok ADDRESS_HEX
//   touch NAME [STRIDE_BYTES]                  write one byte per stride
//   read NAME                                  read one byte per page
//   collapse|pageout|cold|willneed NAME        madvise on the whole region
//   unmap NAME
//   churn MIB REPS                             mmap, touch every 4K page, munmap, REPS times -> ok NS
//   hotloop NAME MS SEED                       random 8-byte reads for MS ms -> ok OPS
//   getpid COUNT                               COUNT getpid syscalls (drives the drain benchmark)
//   idlethread                                 start a thread that only sleeps: with two users of
//                                              the mm, NUMA balancing samples accesses even on one node
//   threadtouch NAME                           touch NAME from a new thread, joined -> ok
//   forktouch NAME                             touch NAME in a forked child, waited for -> ok CHILDPID
//   pid                                        -> ok PID
//   exit
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define MAX_REGIONS 16
#define HUGE (2UL << 20)

struct region {
  char name[32];
  uint8_t *addr;
  size_t len;
};

static struct region regions[MAX_REGIONS];
static char line[512];
static char reply[256];

static void say(const char *s) {
  size_t n = strlen(s);
  // write(2) from a buffer already touched: no fault in the reply path.
  if (write(1, s, n) != (ssize_t)n) exit(3);
}

static void *sleeper(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static void touch_pages(struct region *r) {
  for (size_t off = 0; off < r->len; off += 4096) r->addr[off] = 1;
}

static void *toucher(void *arg) {
  touch_pages(arg);
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static struct region *find(const char *name) {
  for (int i = 0; i < MAX_REGIONS; i++)
    if (regions[i].addr && strcmp(regions[i].name, name) == 0) return &regions[i];
  return NULL;
}

// An anonymous mapping aligned to 2 MiB, so huge pages can back all of it.
static uint8_t *map_aligned(size_t len) {
  size_t span = len + HUGE;
  uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  uintptr_t start = ((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1);
  if (start > (uintptr_t)raw) munmap(raw, start - (uintptr_t)raw);
  uintptr_t end = start + len;
  if ((uintptr_t)raw + span > end) munmap((void *)end, (uintptr_t)raw + span - end);
  return (uint8_t *)start;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static int advise(struct region *r, int advice) {
  return madvise(r->addr, r->len, advice) == 0 ? 0 : errno;
}

int main(void) {
  // Touch the buffers the command loop uses before the first command, so the
  // loop itself adds no faults between commands.
  memset(line, 0, sizeof(line));
  memset(reply, 0, sizeof(reply));
  memset(regions, 0, sizeof(regions));
  setvbuf(stdin, NULL, _IONBF, 0);
  size_t used = 0;
  for (;;) {
    // Read one line byte by byte from fd 0 into the pre-touched buffer.
    used = 0;
    for (;;) {
      char c;
      ssize_t n = read(0, &c, 1);
      if (n <= 0) return 0;
      if (c == '\n') break;
      if (used < sizeof(line) - 1) line[used++] = c;
    }
    line[used] = 0;
    char cmd[32] = {0}, name[32] = {0}, arg[32] = {0}, arg2[32] = {0};
    sscanf(line, "%31s %31s %31s %31s", cmd, name, arg, arg2);
    struct region *r = find(name);
    if (strcmp(cmd, "pid") == 0) {
      snprintf(reply, sizeof(reply), "ok %d\n", getpid());
    } else if (strcmp(cmd, "map") == 0) {
      size_t len = strtoull(arg, NULL, 10) << 20;
      struct region *slot = NULL;
      for (int i = 0; i < MAX_REGIONS && !slot; i++)
        if (!regions[i].addr) slot = &regions[i];
      uint8_t *a = (r || !slot || !len) ? NULL : map_aligned(len);
      if (!a) {
        snprintf(reply, sizeof(reply), "err map %s\n", name);
      } else {
        int e = 0;
        if (strcmp(arg2, "hugepage") == 0) e = madvise(a, len, MADV_HUGEPAGE) ? errno : 0;
        if (strcmp(arg2, "nohugepage") == 0) e = madvise(a, len, MADV_NOHUGEPAGE) ? errno : 0;
        snprintf(slot->name, sizeof(slot->name), "%s", name);
        slot->addr = a;
        slot->len = len;
        if (e)
          snprintf(reply, sizeof(reply), "err madvise errno %d\n", e);
        else
          snprintf(reply, sizeof(reply), "ok %lx\n", (unsigned long)(uintptr_t)a);
      }
    } else if (strcmp(cmd, "idlethread") == 0) {
      pthread_t t;
      int e = pthread_create(&t, NULL, sleeper, NULL);
      if (e)
        snprintf(reply, sizeof(reply), "err pthread_create %d\n", e);
      else
        snprintf(reply, sizeof(reply), "ok\n");
    } else if (strcmp(cmd, "getpid") == 0) {
      long count = strtol(name, NULL, 10);
      for (long i = 0; i < count; i++) syscall(SYS_getpid);
      snprintf(reply, sizeof(reply), "ok\n");
    } else if (!r && strcmp(cmd, "churn") != 0 && strcmp(cmd, "exit") != 0) {
      snprintf(reply, sizeof(reply), "err no region '%s'\n", name);
    } else if (strcmp(cmd, "touch") == 0) {
      size_t stride = arg[0] ? strtoull(arg, NULL, 10) : 4096;
      for (size_t off = 0; off < r->len; off += stride) r->addr[off] = 1;
      snprintf(reply, sizeof(reply), "ok\n");
    } else if (strcmp(cmd, "threadtouch") == 0) {
      pthread_t t;
      int e = pthread_create(&t, NULL, toucher, r);
      if (e == 0) e = pthread_join(t, NULL);
      if (e)
        snprintf(reply, sizeof(reply), "err threadtouch %d\n", e);
      else
        snprintf(reply, sizeof(reply), "ok\n");
    } else if (strcmp(cmd, "forktouch") == 0) {
      pid_t child = fork();
      if (child == 0) {
        touch_pages(r);
        _exit(0);
      }
      int status = 0;
      if (child < 0 || waitpid(child, &status, 0) != child)
        snprintf(reply, sizeof(reply), "err forktouch errno %d\n", errno);
      else
        snprintf(reply, sizeof(reply), "ok %d\n", (int)child);
    } else if (strcmp(cmd, "read") == 0) {
      volatile uint64_t sum = 0;
      for (size_t off = 0; off < r->len; off += 4096) sum += r->addr[off];
      snprintf(reply, sizeof(reply), "ok %lu\n", (unsigned long)sum);
    } else if (strcmp(cmd, "collapse") == 0 || strcmp(cmd, "pageout") == 0 || strcmp(cmd, "cold") == 0 ||
               strcmp(cmd, "willneed") == 0) {
      int advice = strcmp(cmd, "collapse") == 0  ? MADV_COLLAPSE
                   : strcmp(cmd, "pageout") == 0 ? MADV_PAGEOUT
                   : strcmp(cmd, "cold") == 0    ? MADV_COLD
                                                 : MADV_WILLNEED;
      int e = advise(r, advice);
      if (e)
        snprintf(reply, sizeof(reply), "err %s errno %d\n", cmd, e);
      else
        snprintf(reply, sizeof(reply), "ok\n");
    } else if (strcmp(cmd, "unmap") == 0) {
      munmap(r->addr, r->len);
      memset(r, 0, sizeof(*r));
      snprintf(reply, sizeof(reply), "ok\n");
    } else if (strcmp(cmd, "churn") == 0) {
      size_t len = strtoull(name, NULL, 10) << 20;
      long reps = strtol(arg, NULL, 10);
      uint64_t t0 = now_ns();
      for (long i = 0; i < reps; i++) {
        uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) break;
        for (size_t off = 0; off < len; off += 4096) a[off] = 1;
        munmap(a, len);
      }
      snprintf(reply, sizeof(reply), "ok %lu\n", (unsigned long)(now_ns() - t0));
    } else if (strcmp(cmd, "hotloop") == 0) {
      uint64_t ms = strtoull(arg, NULL, 10), seed = strtoull(arg2, NULL, 10) | 1;
      uint64_t end = now_ns() + ms * 1000000ull, ops = 0;
      volatile uint64_t sum = 0;
      size_t words = r->len / 8;
      uint64_t *w = (uint64_t *)r->addr;
      while (now_ns() < end) {
        for (int k = 0; k < 4096; k++) sum += w[xorshift(&seed) % words];
        ops += 4096;
      }
      snprintf(reply, sizeof(reply), "ok %lu\n", (unsigned long)ops);
    } else if (strcmp(cmd, "exit") == 0) {
      say("ok\n");
      return 0;
    } else {
      snprintf(reply, sizeof(reply), "err unknown command '%s'\n", cmd);
    }
    say(reply);
  }
}
