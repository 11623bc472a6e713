#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/interop/build-guest.sh OUT_DIR
# Builds the Linux guest of the interop test (Debian 12, as root): Debian's 6.1 kernel, the two
# upstream drivers it does not enable (i2c-virtio, gpio-virtio) built unchanged out of tree, and a
# small busybox initramfs whose /init is guest-checks.sh. Cached: work is keyed on the kernel
# ABI name (KVER) and skipped when its output exists; the initramfs is rebuilt only when its inputs
# change. Results: OUT_DIR/vmlinuz, OUT_DIR/initramfs.cpio, OUT_DIR/guest.env (KVER, versions).
#   VIREO_GUEST_KERNEL_VERSION  Debian version of linux-image-amd64 to use (default: candidate)
set -euo pipefail

usage() { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; }
case ${1:-} in -h | --help) usage; exit 0 ;; esac
if [ $# -ne 1 ]; then usage >&2; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
started=$SECONDS

say() { echo "build-guest: $*"; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

# Host tools for building and for the guest's user space (copied out of the host's packages).
bash "$repo/scripts/ensure-packages.sh" qemu-system-x86 busybox-static i2c-tools gpiod \
  cpio kmod make gcc xz-utils

# ---- which kernel: the 6.1 package linux-image-amd64 points at (or VIREO_GUEST_KERNEL_VERSION)
meta_depends() {  # prints the Depends: line of linux-image-amd64 at the wanted version
  local meta
  if [ -n "${VIREO_GUEST_KERNEL_VERSION:-}" ]; then
    meta=$(apt-cache show "linux-image-amd64=$VIREO_GUEST_KERNEL_VERSION" 2>/dev/null) || return 1
  else
    meta=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null) || return 1
  fi
  grep '^Depends:' <<<"$meta" | sed -n 1p
}
if ! depends=$(meta_depends); then
  say "no apt metadata for linux-image-amd64: running apt-get update"
  apt-get update -q >/dev/null
  depends=$(meta_depends) || die "apt knows no linux-image-amd64${VIREO_GUEST_KERNEL_VERSION:+=$VIREO_GUEST_KERNEL_VERSION}"
fi
# "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)"
image_pkg=$(sed -n 's/^Depends: \(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1/p' <<<"$depends")
debver=$(sed -n 's/^Depends: \(linux-image-[^ ,]*\) (= \([^)]*\)).*/\2/p' <<<"$depends")
if [ -z "$image_pkg" ] || [ -z "$debver" ]; then die "cannot parse '$depends'"; fi
kver=${image_pkg#linux-image-}
case $kver in 6.1.*) ;; *) die "expected a 6.1 kernel, linux-image-amd64 points at $kver" ;; esac
say "kernel $kver (Debian $debver)"

work=$out/$kver
mkdir -p "$work"

apt_download() {  # pkg=ver into the current directory; refreshes stale apt lists once
  apt-get download -q "$1" >/dev/null 2>&1 && return 0
  say "apt-get download $1 failed: running apt-get update and retrying"
  apt-get update -q >/dev/null
  apt-get download -q "$1" >/dev/null
}

# ---- 1. the two upstream driver sources, from linux-source-6.1 of the same Debian version
src=$work/src
if [ ! -f "$src/i2c-virtio.c" ] || [ ! -f "$src/gpio-virtio.c" ]; then
  t0=$SECONDS
  tmp=$(mktemp -d "$work/.src.XXXXXX")
  (cd "$tmp" && apt_download "linux-source-6.1=$debver")
  deb=$(ls "$tmp"/linux-source-6.1_*.deb)
  # The .deb holds usr/src/linux-source-6.1.tar.xz; stream it and keep two files only.
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.1.tar.xz | tar -xJ -C "$tmp" \
    linux-source-6.1/drivers/i2c/busses/i2c-virtio.c linux-source-6.1/drivers/gpio/gpio-virtio.c
  mkdir -p "$src"
  cp "$tmp/linux-source-6.1/drivers/i2c/busses/i2c-virtio.c" \
     "$tmp/linux-source-6.1/drivers/gpio/gpio-virtio.c" "$src/"
  echo "$debver" >"$src/DEBIAN_VERSION"
  rm -rf "$tmp"
  say "driver sources from linux-source-6.1 $debver ($((SECONDS - t0))s)"
else
  say "driver sources: cached"
fi

# ---- 2. build them against linux-headers-KVER
mod=$work/modules
if [ ! -f "$mod/i2c-virtio.ko" ] || [ ! -f "$mod/gpio-virtio.ko" ]; then
  t0=$SECONDS
  bash "$repo/scripts/ensure-packages.sh" "linux-headers-$kver"
  rm -rf "$mod.tmp" && mkdir -p "$mod.tmp"
  cp "$src/i2c-virtio.c" "$src/gpio-virtio.c" "$mod.tmp/"
  echo 'obj-m := i2c-virtio.o gpio-virtio.o' >"$mod.tmp/Kbuild"
  make -s -C "/usr/src/linux-headers-$kver" M="$mod.tmp" -j"$(nproc)" modules
  rm -rf "$mod" && mv "$mod.tmp" "$mod"
  say "modules built ($((SECONDS - t0))s)"
else
  say "modules: cached"
fi
for ko in "$mod/i2c-virtio.ko" "$mod/gpio-virtio.ko"; do
  magic=$(modinfo -F vermagic "$ko")
  [ "${magic%% *}" = "$kver" ] || die "$ko has vermagic '$magic', want $kver"
done

# ---- 3. kernel image and the modules the guest needs (with their dependencies)
kern=$work/kernel
# Loaded in this order by /init (dependencies first, from modules.dep); the virtio transport last
# so both drivers are registered when the devices appear.
wanted=(i2c-dev i2c-virtio gpio-virtio virtio_pci)
if [ ! -f "$kern/vmlinuz" ] || [ ! -f "$kern/modules.load" ] ||
   [ "$kern/modules.load" -ot "$mod/i2c-virtio.ko" ]; then
  t0=$SECONDS
  tmp=$(mktemp -d "$work/.kernel.XXXXXX")
  (cd "$tmp" && apt_download "$image_pkg=$debver")
  dpkg-deb -x "$tmp/${image_pkg}_"*.deb "$tmp/root"
  moddir=lib/modules/$kver
  mkdir -p "$tmp/root/$moddir/extra"
  cp "$mod/i2c-virtio.ko" "$mod/gpio-virtio.ko" "$tmp/root/$moddir/extra/"
  depmod -b "$tmp/root" "$kver"  # the .deb ships no modules.dep
  rm -rf "$kern.tmp" && mkdir -p "$kern.tmp/$moddir"
  cp "$tmp/root/boot/vmlinuz-$kver" "$kern.tmp/vmlinuz"
  : >"$kern.tmp/modules.load"
  for m in "${wanted[@]}"; do
    # "insmod /abs/path.ko" per module, dependencies first; "builtin X" for built-in ones.
    modprobe -d "$tmp/root" -S "$kver" --show-depends "$m" | while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      rel=${path#"$tmp/root/"}
      grep -qxF "/$rel" "$kern.tmp/modules.load" && continue
      mkdir -p "$kern.tmp/$(dirname "$rel")"
      cp "$path" "$kern.tmp/$rel"
      echo "/$rel" >>"$kern.tmp/modules.load"
    done
  done
  cp "$tmp/root/$moddir/modules.order" "$tmp/root/$moddir/modules.builtin" \
     "$tmp/root/$moddir/modules.builtin.modinfo" "$kern.tmp/$moddir/" 2>/dev/null || true
  depmod -b "$kern.tmp" "$kver"
  rm -rf "$tmp" "$kern" && mv "$kern.tmp" "$kern"
  say "kernel and $(wc -l <"$kern/modules.load") modules extracted ($((SECONDS - t0))s)"
else
  say "kernel: cached"
fi

# ---- 4. the initramfs: busybox, the modules, i2c-tools and gpiod with their libraries, /init
i2c_tools=(/usr/sbin/i2cdetect /usr/sbin/i2cget /usr/sbin/i2cset /usr/sbin/i2cdump /usr/sbin/i2ctransfer)
gpio_tools=(/usr/bin/gpiodetect /usr/bin/gpioinfo /usr/bin/gpioget /usr/bin/gpioset /usr/bin/gpiomon
            /usr/bin/gpiofind)
inputs_key=$(
  {
    cat "$here/guest-checks.sh" "$0" "$kern/modules.load"
    sha256sum /bin/busybox "${i2c_tools[@]}" "${gpio_tools[@]}"
  } | sha256sum | cut -d' ' -f1
)
initrd=$work/initramfs.cpio
if [ ! -f "$initrd" ] || [ "$(cat "$work/initramfs.key" 2>/dev/null)" != "$inputs_key" ]; then
  t0=$SECONDS
  root=$(mktemp -d "$work/.initramfs.XXXXXX")
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib,lib64,usr/bin,usr/sbin}
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  copy_with_libs() {  # a dynamically linked program and every library ldd names, same paths
    local f lib
    for f in "$@"; do
      cp "$f" "$root$f"
      for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
      done
    done
  }
  copy_with_libs "${i2c_tools[@]}" "${gpio_tools[@]}"
  cp -R "$kern/lib/." "$root/lib/"
  cp "$kern/modules.load" "$root/etc/vireo-modules.load"
  echo "$kver" >"$root/etc/vireo-kver"
  cp "$here/guest-checks.sh" "$root/init"
  chmod 755 "$root/init"
  # Uncompressed: under TCG the kernel unpacks it faster than it would decompress it.
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) \
    >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  echo "$inputs_key" >"$work/initramfs.key"
  rm -rf "$root"
  say "initramfs $(du -h "$initrd" | cut -f1) ($((SECONDS - t0))s)"
else
  say "initramfs: cached"
fi

ln -sfn "$kver/kernel/vmlinuz" "$out/vmlinuz"
ln -sfn "$kver/initramfs.cpio" "$out/initramfs.cpio"
cat >"$out/guest.env.tmp" <<EOF
KVER=$kver
KERNEL_DEBIAN_VERSION=$debver
DRIVER_SOURCE=linux-source-6.1 $(cat "$src/DEBIAN_VERSION")
EOF
mv "$out/guest.env.tmp" "$out/guest.env"
say "guest ready in $out ($((SECONDS - started))s)"
