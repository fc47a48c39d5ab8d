#!/usr/bin/env bash
# Runs every test: unit tests and the tests against the real kernel, broker and engine.
# Files run one at a time, because the kernel's counters (/proc/vmstat) are global.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
mapfile -t files < <(find dist -name '*.test.js' -not -path '*/node_modules/*' | sort)
if [ ${#files[@]} -eq 0 ]; then echo "test: no test files found" >&2; exit 1; fi
exec node --enable-source-maps --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
