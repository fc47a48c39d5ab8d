#!/usr/bin/env bash
# Runs the benchmarks (not part of npm test: they take minutes and want a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
node dist/bench/overhead.js "$@"
node dist/bench/drain.js
