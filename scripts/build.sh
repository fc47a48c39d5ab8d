#!/usr/bin/env bash
# Builds the BPF objects, the native addon and the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
node bpf/gen-layout.mjs
node scripts/gen-event-fields.mjs
make -s -C bpf
make -s -C bench
node_modules/.bin/tsc -p .
