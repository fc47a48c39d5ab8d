#!/usr/bin/env bash
# Installs what pageloop needs on a fresh Debian machine, idempotently:
# Debian packages (toolchain for BPF and the addon), npm packages, bpffs.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ procps util-linux maven openjdk-17-jre-headless)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

# npm packages: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.pageloop-lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing npm packages"
  # npm ci, from the lock file exactly. chdb's platform packages for other
  # systems are not served by every registry, so their lock entries are
  # written by hand (os/cpu/optional only: npm ci never fetches them here);
  # test/lockfile.test.ts keeps the lock file in sync with package.json.
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# bpffs, for pinned maps (the feedback agent's hint map).
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: warning: could not mount bpffs on /sys/fs/bpf"
fi
