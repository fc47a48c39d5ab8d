#!/usr/bin/env bash
# Runs the benchmarks as BENCHMARKS.md records them (not part of npm test:
# they take minutes and want a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
node dist/bench/overhead.js --config null-hook
node dist/bench/overhead.js "$@"
node dist/bench/drain.js --rounds 2
node dist/bench/collector.js --records 2000000 --rounds 5
node dist/bench/collector.js --records 2000000 --rounds 4 --compare
node --expose-gc dist/bench/processors.js
node dist/bench/sink.js --rounds 3 --block-records 32
node dist/bench/closed-loop.js --loop-ms 1000 --rounds 60
