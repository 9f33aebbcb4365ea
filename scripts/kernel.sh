#!/usr/bin/env bash
# Builds the project's User-Mode Linux test kernel (Linux 6.12 with nf_tables, everything built in)
# from Debian's linux-source-6.12 and the options in scripts/kernel/uml-6.12.config, once per
# machine, and prints its absolute path as the last line of its output.
#
# The kernel is cached outside the checkout, under $KIPVS_KERNEL_CACHE (default /var/cache/kipvs),
# in a folder named after the source package's version and a hash of the option file and of this
# script's build recipe: a change of either builds again, an unchanged second run prints the path
# at once. A lock makes parallel callers wait for one build. A build that fails or is interrupted
# leaves no `linux` in the final folder (the binary is moved there last, in one rename).
#
#   scripts/kernel.sh            build if needed, print the path
#   scripts/kernel.sh --path     print the path if built, exit 1 otherwise (never builds)
#   scripts/kernel.sh --rebuild  build again even if cached
#
# Needs (make setup installs them): linux-source-6.12 build-essential bc flex bison xz-utils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel/uml-6.12.config
source_pkg=linux-source-6.12
tarball=/usr/src/linux-source-6.12.tar.xz
cache=${KIPVS_KERNEL_CACHE:-/var/cache/kipvs}
# Bump when the recipe below changes in a way that changes the binary.
recipe=1

mode=${1:-build}
case "$mode" in build | --path | --rebuild) ;; *)
  echo "usage: $0 [--path|--rebuild]" >&2
  exit 2
  ;;
esac

version=$(dpkg-query -W -f='${Version}' "$source_pkg" 2>/dev/null || true)
if [ -z "$version" ] || [ ! -f "$tarball" ]; then
  if [ "$mode" = --path ]; then exit 1; fi
  echo "kernel: $source_pkg is not installed (make setup installs it)" >&2
  exit 1
fi
key=$( (
  echo "recipe $recipe"
  grep -E '^CONFIG_' "$fragment" | sort
) | sha256sum | cut -c1-12)
final=$cache/uml-6.12-${version//[^A-Za-z0-9.+-]/_}-$key
kernel=$final/linux

if [ "$mode" = --path ]; then
  [ -x "$kernel" ] && echo "$kernel" && exit 0
  exit 1
fi
if [ "$mode" = build ] && [ -x "$kernel" ]; then
  echo "$kernel"
  exit 0
fi

missing=()
for tool in gcc make flex bison bc xz strip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kernel: cannot build without ${missing[*]} (make setup installs them)" >&2
  exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "kernel: another build holds $cache/.build.lock; waiting for it" >&2
  flock 9
fi
# The build we waited for may have made it.
if [ "$mode" = build ] && [ -x "$kernel" ]; then
  echo "$kernel"
  exit 0
fi

work=$cache/.build-$key
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
# An interrupted build removes its work folder too (bash runs no EXIT trap on a fatal signal).
trap 'exit 130' INT
trap 'exit 143' TERM HUP
started=$(date +%s)
echo "kernel: building User-Mode Linux $version with $(basename "$fragment") in $work" >&2
echo "kernel: about 11 minutes on 2 cores; the result is cached in $final" >&2
tar -xJf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
cd "$src"
log=$work/build.log
make ARCH=um defconfig >"$log" 2>&1
mapfile -t options < <(sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=y$/\1/p' "$fragment")
scripts/config $(printf -- '--enable %s ' "${options[@]}")
make ARCH=um olddefconfig >>"$log" 2>&1
missing=()
for o in "${options[@]}"; do
  grep -qx "CONFIG_$o=y" .config || missing+=("$o")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kernel: these options of $fragment are not =y after olddefconfig (unknown, or a" \
    "dependency is missing): ${missing[*]}" >&2
  exit 1
fi
if ! nice -n 19 make ARCH=um -j"$(nproc)" >>"$log" 2>&1; then
  echo "kernel: the build failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
strip -o linux.stripped linux
mkdir -p "$final"
cp .config "$final/config"
mv linux.stripped "$final/linux.partial"
mv "$final/linux.partial" "$kernel"
echo "kernel: built in $(($(date +%s) - started)) s" >&2
echo "$kernel"
