#!/usr/bin/env bash
# Installs what kipvs needs to build and test on Debian 12, as root: the Debian packages, the
# Deno pinned in package.json, and the npm packages locked in deno.lock. Each step is skipped when
# what it installs is already there, so a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(user-mode-linux kmod ipvsadm ipset iptables iproute2 libnl-3-200 libnl-genl-3-200
  libnl-route-3-200 curl python3 conntrack procps tmux nftables
  # the project's 6.12 test kernel (scripts/kernel.sh): its source (bookworm-security) and tools
  linux-source-6.12 build-essential bc flex bison xz-utils)

missing=()
for p in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run 'make setup' as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# User-Mode Linux maps a guest process's pages into a host process one area at a time: a guest
# process with a heap of hundreds of MB (bench:scale at 50,000 services) needs more than the
# default 65,530 maps, or the guest halts ("UML ran out of memory on the host side").
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/sys/vm/max_map_count)" -lt 1048576 ]; then
  sysctl -qw vm.max_map_count=1048576 ||
    echo "setup: could not raise vm.max_map_count (bench:scale at 50,000 services needs it)" >&2
fi

deno=node_modules/@deno/linux-x64-glibc/deno
pinned=$(sed -n 's/.*"deno": *"\([0-9.]*\)".*/\1/p' package.json)
# One stamp covers both lock files: when either changes, the packages are installed again.
stamp=node_modules/.kipvs-setup-stamp
want="$pinned $(cat package-lock.json deno.lock | sha256sum | cut -d' ' -f1)"
if [ -x "$deno" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "setup: npm is needed to install the pinned Deno (package.json)" >&2
  exit 1
fi
echo "setup: installing Deno $pinned and the npm packages in deno.lock"
npm ci --no-audit --no-fund --loglevel=error
have=$("$deno" --version | sed -n 's/^deno \([0-9.]*\).*/\1/p')
if [ "$have" != "$pinned" ]; then
  echo "setup: installed Deno $have, but package.json pins $pinned" >&2
  exit 1
fi
"$deno" install --frozen --quiet
echo "$want" >"$stamp"
