#!/usr/bin/env bash
# Installs what mcugen needs on a fresh Debian machine: C compilers from apt, Python packages in .venv.
# Usage: scripts/setup.sh [EXTRA]   (EXTRA = verify | test: the optional dependency group to install)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-verify}"

SYSTEM_PACKAGES=(gcc clang binutils python3-venv)
# The tests also build firmware for emulated boards and run it under QEMU.
[ "$extra" = test ] && SYSTEM_PACKAGES+=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-system-misc
                                         gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)
missing=()
for p in "${SYSTEM_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing system packages: ${missing[*]}"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$extra]"
