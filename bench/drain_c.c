// The plain C libbpf consumer the drain benchmark compares against: it opens
// the pinned ring buffer the probes write into, and counts records (reading
// each one's kind, as a real consumer must) until it has seen COUNT of them.
// Prints: records elapsed_ns (first record to last).
//
// usage: drain_c PINNED_MAP_PATH COUNT
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pageloop.h"

static uint64_t seen, want, first_ns, last_ns, kinds;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int on_record(void *ctx, void *data, size_t size) {
  const struct pl_header *h = data;
  if (seen == 0) first_ns = now_ns();
  kinds += h->kind;
  if (++seen == want) last_ns = now_ns();
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PINNED_MAP_PATH COUNT\n", argv[0]);
    return 2;
  }
  want = strtoull(argv[2], NULL, 10);
  int fd = bpf_obj_get(argv[1]);
  if (fd < 0) {
    perror("bpf_obj_get");
    return 1;
  }
  struct ring_buffer *rb = ring_buffer__new(fd, on_record, NULL, NULL);
  if (!rb) {
    perror("ring_buffer__new");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  while (seen < want) {
    int n = ring_buffer__poll(rb, 1000);
    if (n < 0) {
      fprintf(stderr, "ring_buffer__poll: %d\n", n);
      return 1;
    }
  }
  printf("%llu %llu\n", (unsigned long long)seen, (unsigned long long)(last_ns - first_ns));
  ring_buffer__free(rb);
  return kinds == 0;
}
