#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (as root) for edgebench: the cross-compilers, QEMU user-mode
# emulation and OpenSSH server that the emulated boards need, then the Python package itself.
#   scripts/setup.sh          everything to run edgebench
#   scripts/setup.sh --test   the same plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

# qemu-user (not qemu-user-static): only the dynamic build loads the TCG counting plugin.
packages=(qemu-user g++-arm-linux-gnueabihf g++-aarch64-linux-gnu openssh-server cmake ninja-build ccache gcc g++ make)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# torch is pinned in pyproject.toml (==2.13.0, the CPU build); never let pip pick a newer (CUDA) one.
python3 -m pip install -q --upgrade pip
python3 -m pip install -q -e ".${extra}"
echo "edgebench is set up: $(command -v edgebench)"
