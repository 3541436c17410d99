#!/usr/bin/env bash
# Leg 2 of docs/build.md: builds aft and runs its whole test suite against Debian 13 (trixie)'s
# LibTorch 2.6, inside a Debian 13 root made from Debian's own packages.
#   1. the root: mmdebstrap (or debootstrap) of trixie with every package tools/setup.sh names,
#      made once into $AFT_CACHE/debian13/root (default ~/.cache/aft) and reused after that;
#      tools/setup.sh then runs inside it, so a package added to its list is installed there too;
#   2. a copy of this working tree (tracked and untracked, not ignored files) in
#      $AFT_CACHE/debian13/src, bind-mounted at /aft in the root; the build directory and ccache
#      stay in the cache too, so a rerun recompiles only what changed;
#   3. in a private mount namespace (unshare; nothing stays mounted afterwards): CMake, ninja
#      (every target), then ctest over the whole suite.
# Needs root (chroot, mounts) and Debian's package mirror the first time. Output goes to the
# terminal and to $AFT_CACHE/debian13/test.log; the last line says the result and the minutes.
# Environment: AFT_CACHE, AFT_JOBS (default 2), AFT_CTEST_ARGS (e.g. "-R Glyphs" for a part),
# DEBIAN13_MIRROR (default http://deb.debian.org/debian); AFT_ROOT_ONLY=1 stops once the root
# exists (to make it, mostly downloading, while something else uses the cores).
# Exit: 0 built and every test passed; 2 not root or no bootstrap tool; 3 the root could not be
# made; 4 configure or build failed; 5 a test failed.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-$HOME/.cache/aft}/debian13"
root="$cache/root"
jobs="${AFT_JOBS:-2}"
mirror="${DEBIAN13_MIRROR:-http://deb.debian.org/debian}"
log="$cache/test.log"
start=$(date +%s)

say() { echo "test_debian13: $*" | tee -a "$log"; }
minutes() { echo "$(( ($(date +%s) - start + 30) / 60 ))"; }
finish() { say "$1 ($(minutes) min)"; exit "$2"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "test_debian13: needs root (chroot and bind mounts); run it with sudo" >&2
  exit 2
fi
mkdir -p "$cache"
: >"$log"

# 1. The root, made once. A half-made one (interrupted) is in root.partial and is made again.
if [ ! -e "$root/.aft-root-ready" ]; then
  packages="$("$src/tools/setup.sh" --list | paste -sd, -)"
  rm -rf --one-file-system "$root.partial"
  say "making the Debian 13 root in $root (once; downloads about 1 GB)"
  if command -v mmdebstrap >/dev/null; then
    nice -n 15 mmdebstrap --variant=apt --include="$packages" \
      --aptopt='APT::Install-Recommends "false"' \
      trixie "$root.partial" "deb $mirror trixie main" >>"$log" 2>&1 ||
      finish "FAIL: mmdebstrap could not make the root (see $log)" 3
  elif command -v debootstrap >/dev/null; then
    nice -n 15 debootstrap --variant=minbase --include="$packages" trixie "$root.partial" "$mirror" >>"$log" 2>&1 ||
      finish "FAIL: debootstrap could not make the root (see $log)" 3
  else
    echo "test_debian13: needs mmdebstrap or debootstrap (apt-get install mmdebstrap)" >&2
    exit 2
  fi
  rm -rf --one-file-system "$root"
  mv "$root.partial" "$root"
  touch "$root/.aft-root-ready"
  say "root made in $(minutes) min"
fi

[ "${AFT_ROOT_ONLY:-0}" = 1 ] && finish "root ready in $root (AFT_ROOT_ONLY=1: not built)" 0

# 2. A fresh copy of the source; mtimes are kept, so ninja rebuilds only what changed.
rm -rf --one-file-system "$cache/src"
mkdir -p "$cache/src" "$cache/build" "$cache/ccache" "$root/aft" "$root/aft-build" "$root/ccache"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
  tar --null -T - -cf -) | tar -C "$cache/src" -xf -
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The host's certificate bundle, so that pip inside the root (setup.sh fetches the pinned weights)
# trusts what the host trusts, a proxy's own certificate authority included. Kept beside the
# root's own bundle, which its ca-certificates package owns and may rewrite.
ca=""
for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  [ -n "$f" ] && [ -f "$f" ] && { ca="$f"; break; }
done
[ -n "$ca" ] && cp -L "$ca" "$root/etc/ssl/aft-host-ca.crt"

# 3. Inside the root, in a mount namespace of its own.
inner=$(cat <<EOF
set -euo pipefail
export HOME=/root LANG=C.UTF-8 CCACHE_DIR=/ccache CCACHE_BASEDIR=/aft DEBIAN_FRONTEND=noninteractive
if [ -f /etc/ssl/aft-host-ca.crt ]; then
  export SSL_CERT_FILE=/etc/ssl/aft-host-ca.crt PIP_CERT=/etc/ssl/aft-host-ca.crt REQUESTS_CA_BUNDLE=/etc/ssl/aft-host-ca.crt CURL_CA_BUNDLE=/etc/ssl/aft-host-ca.crt
fi
cd /aft
echo "test_debian13: inside: \$(. /etc/os-release; echo \$PRETTY_NAME); libtorch-dev \$(dpkg-query -W -f='\${Version}' libtorch-dev); \$(g++ --version | head -1); cmake \$(cmake --version | head -1 | cut -d' ' -f3)"
./tools/setup.sh
cmake -S /aft -B /aft-build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 4
nice -n 15 ninja -C /aft-build -j$jobs || exit 4
echo "test_debian13: built"
cd /aft-build
nice -n 15 ctest --output-on-failure -j$jobs --timeout 600 ${AFT_CTEST_ARGS:-} || exit 5
EOF
)
set +e
unshare --mount --fork sh -c '
  set -e
  r="$1"
  mount --make-rprivate /
  mount -t proc proc "$r/proc"
  mount --rbind /dev "$r/dev"
  mount --rbind /sys "$r/sys"
  mount -t tmpfs tmpfs "$r/tmp"
  mkdir -p "$r/dev/shm" && mount -t tmpfs tmpfs "$r/dev/shm"
  mount --bind "$2/src" "$r/aft"
  mount --bind "$2/build" "$r/aft-build"
  mount --bind "$2/ccache" "$r/ccache"
  exec chroot "$r" /bin/bash -c "$3"
' sh "$root" "$cache" "$inner" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
set -e

case "$rc" in
  0) finish "PASS: built and the whole suite passed against Debian 13's LibTorch" 0 ;;
  4) finish "FAIL: configure or build failed (see $log)" 4 ;;
  5) finish "FAIL: tests failed (see $log)" 5 ;;
  *) finish "FAIL: exit $rc inside the root (see $log)" "$rc" ;;
esac
