#!/usr/bin/env bash
# Runs the benchmarks (not part of npm test: they take minutes and want a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
node dist/bench/overhead.js "$@"
node dist/bench/drain.js
node dist/bench/collector.js
node --expose-gc dist/bench/processors.js
node dist/bench/sink.js --rounds 3 --block-records 32
node dist/bench/closed-loop.js --loop-ms 3000
