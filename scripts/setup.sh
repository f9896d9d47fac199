#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (as root) for edgebench: the cross-compilers, QEMU user-mode
# emulation and OpenSSH server that the emulated boards need, then the Python package itself.
#   scripts/setup.sh          everything to run edgebench
#   scripts/setup.sh --test   the same plus the test tools (labgrid too: the tests start a coordinator and an exporter)
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

# qemu-user (not qemu-user-static): only the dynamic build loads the TCG counting plugin. Counts run under
# edgebench's own build of Debian 12's QEMU 7.2 (ncnn_tools/qemu_build.py, built on first use): dpkg-dev,
# libglib2.0-dev, zlib1g-dev, pkg-config and meson (pip, below) build it; debian-archive-keyring signs
# its source.
# qemu-system-arm boots the full-system imx6q-sys board (its image is built from Debian's armhf packages with
# the host's apt, in a private state folder).
packages=(qemu-user g++-arm-linux-gnueabihf g++-aarch64-linux-gnu openssh-server cmake ninja-build ccache gcc g++ make
          dpkg-dev libglib2.0-dev zlib1g-dev pkg-config debian-archive-keyring qemu-system-arm)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The pinned QEMU source comes from Debian bookworm's deb-src (on Ubuntu too: source packages only, no
# binary package is taken from it). Written once, unless a bookworm deb-src entry is already configured.
has_bookworm_src() {
  grep -qsE '^deb-src .*bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && grep -qE '^Types:.*deb-src' "$f" && grep -qE '^Suites:.*bookworm' "$f" && return 0
  done
  return 1
}
if ! has_bookworm_src; then
  cat > /etc/apt/sources.list.d/edgebench-qemu-source.sources <<'EOF'
# Written by edgebench's scripts/setup.sh: the source of the counting QEMU (ncnn_tools/qemu_build.py).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq
fi

# torch is pinned in pyproject.toml (==2.13.0, the CPU build); never let pip pick a newer (CUDA) one.
# meson builds the counting QEMU (0.63.3: the version that build is checked with).
python3 -m pip install -q --upgrade pip
python3 -m pip install -q meson==0.63.3
python3 -m pip install -q -e ".${extra}"
# The labgrid the tests' loopback farm is checked with (tests/labgrid_farm.py); for a lab: edgebench[labgrid].
[ -n "${extra}" ] && python3 -m pip install -q labgrid==26.0.1
echo "edgebench is set up: $(command -v edgebench)"
