#!/usr/bin/env bash
# Installs the Debian 12 packages EventfulDB builds, tests and runs with. Idempotent: apt-get runs
# only when a package is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  librocksdb-dev libsimdjson-dev libboost-dev libssl-dev libhiredis-dev
  libcli11-dev libtomlplusplus-dev doctest-dev
  redis-tools python3 python3-redis python3-pytest python3-cryptography openssl
  clang-14 libclang-rt-14-dev
)
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=(redis-server postgresql)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
