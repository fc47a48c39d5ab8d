#!/usr/bin/env bash
# The main job on embedded defaults. Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if [ $# -eq 0 ]; then set -- up; fi
exec node --enable-source-maps dist/cli/main.js "$@"
