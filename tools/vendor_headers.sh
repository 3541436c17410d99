#!/usr/bin/env bash
# Copies the build dependencies a GPU machine may lack (it has no package registry) from this
# Debian machine into third_party_local/ (git-ignored), for tools/gpu_build.sh to carry there.
# CMake searches that folder only after the system's own (CMakeLists.txt), so a machine that
# has a dependency installed keeps using its own.
#
#   header-only: nlohmann-json and CLI11 (with their CMake config files), Boost.CRC and the Boost
#                headers it includes (found with g++ -M), googletest's sources (built there);
#   compiled:    libjpeg, libpng, zlib (headers + a link-time libz.so only: every Linux has
#                libz.so.1), FreeType and its libraries, protobuf: headers plus Debian 12's
#                shared libraries, which need glibc >= 2.34 (MANIFEST.txt says exactly).
#
# Usage: tools/vendor_headers.sh [DEST]   (DEST defaults to third_party_local/ in the repo root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/third_party_local}"
arch_lib=/usr/lib/x86_64-linux-gnu
arch_inc=/usr/include/x86_64-linux-gnu

need() {
  for f in "$@"; do
    [ -e "$f" ] || { echo "vendor_headers: $f is missing; run tools/setup.sh first" >&2; exit 1; }
  done
}
need /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp /usr/include/boost/crc.hpp /usr/src/googletest/CMakeLists.txt \
  /usr/include/jpeglib.h /usr/include/png.h /usr/include/zlib.h /usr/include/freetype2/ft2build.h \
  /usr/include/google/protobuf/message.h "$arch_lib/libprotobuf.so.32"

rm -rf "$dest"
mkdir -p "$dest/include" "$dest/lib" "$dest/share/cmake"

# Header-only libraries, with the config files find_package(CONFIG) reads; both compute their
# prefix from the config file's own location, so they work from any folder.
cp -r /usr/include/nlohmann /usr/include/CLI "$dest/include/"
cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$dest/share/cmake/"

# Boost: only what <boost/crc.hpp> pulls in (g++ -M lists it), plus version.hpp, which CMake's
# FindBoost reads to accept a Boost installation.
printf '#include <boost/crc.hpp>\n#include <boost/version.hpp>\n' |
  g++ -std=c++17 -M -x c++ - | tr ' ' '\n' | grep '^/usr/include/boost/' | sort -u |
  while read -r f; do
    mkdir -p "$dest/include/$(dirname "${f#/usr/include/}")"
    cp "$f" "$dest/include/${f#/usr/include/}"
  done

# googletest from source: a prebuilt libgtest would have to match the GPU machine's compiler
# and LibTorch's C++ ABI; built there by CMakeLists.txt, it does by construction.
cp -r /usr/src/googletest "$dest/googletest"

# Compiled libraries: headers, a plain .so for the linker and the SONAME file for run time.
copy_lib() {  # copy_lib SONAME LINKNAME...
  local so="$1"
  shift
  cp -L "$arch_lib/$so" "$dest/lib/$so"
  for link in "$@"; do cp -L "$arch_lib/$so" "$dest/lib/$link"; done
}
cp /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h "$arch_inc/jconfig.h" "$dest/include/"
copy_lib libjpeg.so.62 libjpeg.so
cp -L /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h "$dest/include/"
copy_lib libpng16.so.16 libpng16.so libpng.so
cp /usr/include/zlib.h /usr/include/zconf.h "$dest/include/"
cp -L "$arch_lib/libz.so" "$dest/lib/libz.so"  # link time only; libz.so.1 at run time is the machine's
cp -rL /usr/include/freetype2 "$dest/include/"
copy_lib libfreetype.so.6 libfreetype.so
copy_lib libbrotlidec.so.1
copy_lib libbrotlicommon.so.1
mkdir -p "$dest/include/google"
cp -r /usr/include/google/protobuf "$dest/include/google/"
copy_lib libprotobuf.so.32 libprotobuf.so

# What was copied, from which package, and the newest glibc / libstdc++ symbol versions the
# copied libraries need: gpu_build.sh logs it, and a machine older than that cannot use them.
{
  echo "# third_party_local, made $(date -u +%Y-%m-%dT%H:%MZ) by tools/vendor_headers.sh on $(grep -m1 '^PRETTY_NAME=' /etc/os-release | cut -d= -f2 | tr -d '"')"
  for p in nlohmann-json3-dev libcli11-dev libboost-dev googletest libjpeg62-turbo-dev libpng-dev zlib1g-dev \
    libfreetype-dev libbrotli-dev libprotobuf-dev; do
    dpkg-query -W -f='package ${Package} ${Version}\n' "$p" 2>/dev/null || echo "package $p (not installed)"
  done
  need_glibc=$(objdump -T "$dest"/lib/*.so* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  need_cxx=$(objdump -T "$dest"/lib/*.so* | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
  echo "needs ${need_glibc} ${need_cxx}"
} >"$dest/MANIFEST.txt"
echo "vendor_headers: $(du -sh "$dest" | cut -f1) in $dest ($(grep '^needs' "$dest/MANIFEST.txt"))"
