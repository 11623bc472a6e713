#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/ensure-packages.sh PKG...  Installs the Debian packages that are missing
# (checked with dpkg-query); runs apt-get update once, and only if something must be installed.
set -euo pipefail

missing=()
for pkg in "$@"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "packages: all present ($*)"
  exit 0
fi

echo "packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "packages: need root to install ${missing[*]} (or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
