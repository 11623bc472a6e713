#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Proves that include/vireo/{core,ring,chain,gpio,i2c,vhost_user,greybus} stay freestanding-friendly (no CMake involved):
#   1. no header there includes a hosted-only standard header or an OS header (textual check);
#   2. every header there, and tests/freestanding/freestanding_check.cpp, compiles for a
#      Cortex-M4 with -fno-exceptions -fno-rtti, and no OS header is included by a Vireo header
#      (read from the compiler's -H include tree);
#   3. the check object references no heap or exception symbol (arm-none-eabi-nm -u);
#   4. the same TU, built for the host, passes its round trips (incl. a virtio-i2c session).
# Needs gcc-arm-none-eabi and libstdc++-arm-none-eabi-newlib.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=${ARM_CXX:-arm-none-eabi-g++}
NM=${ARM_NM:-arm-none-eabi-nm}
for tool in "$CXX" "$NM"; do
  command -v "$tool" >/dev/null || {
    echo "freestanding: $tool not found (apt-get install gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib)" >&2
    exit 1
  }
done

FLAGS=(-std=c++20 -mcpu=cortex-m4 -mthumb -Os -fno-exceptions -fno-rtti -ffunction-sections
       -Wall -Wextra -Wpedantic -Werror -Iinclude)
LAYERS=()
for dir in include/vireo/core include/vireo/ring include/vireo/chain include/vireo/gpio include/vireo/i2c include/vireo/vhost_user include/vireo/greybus; do
  [ -d "$dir" ] && LAYERS+=("$dir")
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# 1. Textual check: hosted-only and OS headers named in an #include line.
banned='iostream|string|vector|memory|functional|map|unordered_map|stdexcept|thread|mutex|unistd\.h|sys/[^>]*'
if [ "${#LAYERS[@]}" -gt 0 ] &&
   grep -rnE --include='*.hpp' "^[[:space:]]*#[[:space:]]*include[[:space:]]*<($banned)>" "${LAYERS[@]}"; then
  echo "freestanding: the includes above are not allowed in core/ring/chain/gpio/i2c/vhost_user/greybus" >&2
  fail=1
fi

# Fails if a Vireo core/ring/chain/gpio/i2c/vhost_user/greybus header is the direct includer of an OS header in a -H tree.
check_include_tree() {
  awk -v tu="$1" '
    /^\.+ / {
      depth = index($0, " ") - 1
      path = substr($0, depth + 2)
      stack[depth] = path
      parent = depth == 1 ? tu : stack[depth - 1]
      if (parent ~ /(^|\/)include\/vireo\/(core|ring|chain|gpio|i2c|vhost_user|greybus)\// &&
          path ~ /(^|\/)(sys|linux)\/|(^|\/)(unistd|fcntl|pthread)\.h$/) {
        printf "freestanding: %s includes the OS header %s\n", parent, path
        bad = 1
      }
    }
    END { exit bad }' "$2"
}

# 2a. Every core/ring/chain/gpio/i2c/vhost_user/greybus header, in one TU, compiled for the target.
headers=()
if [ "${#LAYERS[@]}" -gt 0 ]; then
  mapfile -t headers < <(find "${LAYERS[@]}" -name '*.hpp' | sort)
fi
: > "$work/all_headers.cpp"
for h in "${headers[@]}"; do echo "#include <${h#include/}>" >> "$work/all_headers.cpp"; done
if ! "$CXX" "${FLAGS[@]}" -fsyntax-only -H "$work/all_headers.cpp" 2> "$work/all_headers.H"; then
  grep -v '^\.\|^Multiple include guards\|^include/\|^/' "$work/all_headers.H" >&2 || true
  echo "freestanding: core/ring/chain/gpio/i2c/vhost_user/greybus headers do not compile for cortex-m4" >&2
  fail=1
fi
check_include_tree "$work/all_headers.cpp" "$work/all_headers.H" || fail=1

# 2b. The check TU, compiled to an object.
src=tests/freestanding/freestanding_check.cpp
obj="$work/freestanding_check.o"
if ! "$CXX" "${FLAGS[@]}" -H -c "$src" -o "$obj" 2> "$work/check.H"; then
  grep -v '^\.\|^Multiple include guards\|^include/\|^/' "$work/check.H" >&2 || true
  echo "freestanding: $src does not compile for cortex-m4" >&2
  exit 1
fi
check_include_tree "$src" "$work/check.H" || fail=1

# 3. No heap, no exceptions in what the object needs from outside.
undefined=$("$NM" -u "$obj" | awk '{print $NF}')
forbidden=$({
  printf '%s\n' "$undefined" |
    grep -E '^(malloc|free|calloc|realloc|__cxa_throw|__cxa_allocate_exception)$|^_Z(nw|na|dl|da)'
  "$NM" -u -C "$obj" | grep -E 'operator (new|delete)'
} || true)
if [ -n "$forbidden" ]; then
  printf 'freestanding: %s needs heap or exception symbols:\n%s\n' "$src" "$forbidden" >&2
  fail=1
fi

# 4. The same TU on the host (same -fno-exceptions -fno-rtti), run: the round trips must pass,
#    so the object checked above is known to do what it claims.
host_cxx=${HOST_CXX:-g++}
if command -v "$host_cxx" >/dev/null; then
  printf '%s\n' 'extern "C" int vireo_freestanding_demo(void);' \
    'int main() { return vireo_freestanding_demo() == 0x300 ? 0 : 1; }' > "$work/host_main.cpp"
  if ! "$host_cxx" -std=c++20 -O1 -fno-exceptions -fno-rtti -Wall -Wextra -Werror -Iinclude \
       "$src" "$work/host_main.cpp" -o "$work/host_demo" || ! "$work/host_demo"; then
    echo "freestanding: $src does not pass its round trips on the host" >&2
    fail=1
  fi
fi

if [ "$fail" -ne 0 ]; then
  echo "freestanding: FAILED" >&2
  exit 1
fi
echo "freestanding: ${#headers[@]} core/ring/chain/gpio/i2c/vhost_user/greybus headers and $src compile for cortex-m4"
echo "freestanding: no OS header included by Vireo, no malloc/new/delete/throw referenced"
echo "freestanding: undefined symbols of the check object: ${undefined//$'\n'/ }"
echo "freestanding: the same round trips pass on the host (ring, regions, faults, virtio-i2c)"
