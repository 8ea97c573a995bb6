#!/usr/bin/env bash
# Packs binaries built here for a run on the GPU machine (the device tool): stripped, with the
# shared libraries that machine lacks, xz-compressed into .carry/pack.tar.xz (git-ignored; name
# `.carry` in the call's carry list). On the device: tools/device_unpack.sh, then run from .carry/bin
# with LD_LIBRARY_PATH=.carry/lib.
#   tools/device_pack.sh BUILD_DIR binary...   e.g. tools/device_pack.sh build-cuda vllm-cpp tests/test_cuda
set -euo pipefail
build=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
grep -qx '/.carry/' "$root/.git/info/exclude" 2>/dev/null || echo '/.carry/' >>"$root/.git/info/exclude"
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib" "$root/.carry"
for binary in "$@"; do strip -o "$stage/bin/$(basename "$binary")" "$build/$binary"; done
# Every shared library the binaries load except the C and C++ runtimes the device has.
for binary in "$@"; do
  ldd "$build/$binary" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -Ev '/(libc|libm|libresolv|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
tar -C "$stage" -cJf "$root/.carry/pack.tar.xz" bin lib
rm -rf "$stage"
ls -la "$root/.carry/pack.tar.xz"
