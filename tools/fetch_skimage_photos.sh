#!/usr/bin/env bash
# Unpacks the natural photos that scikit-image ships (Debian's python3-skimage package, taken
# with apt-get download and unpacked, not installed) into $AFT_CACHE/skimage-photos/, for the
# EfficientNet-Lite top-5 check (docs/efficientnet.md) and the lite transform's check on real
# images. Prints the folder.
set -euo pipefail
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}"
dir="$cache/skimage-photos"
photos=(astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png motorcycle_right.png hubble_deep_field.jpg)
if [ -f "$dir/.done" ]; then echo "$dir"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download -q python3-skimage >/dev/null 2>&1); }
if ! download; then
  # A machine whose package lists were never fetched finds nothing; fetch them once.
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  download || { echo "fetch_skimage_photos: apt-get download python3-skimage failed" >&2; exit 1; }
fi
dpkg-deb -x "$work"/python3-skimage_*.deb "$work/x"
mkdir -p "$dir.tmp"
for p in "${photos[@]}"; do cp "$work/x/usr/lib/python3/dist-packages/skimage/data/$p" "$dir.tmp/"; done
dpkg-deb -f "$work"/python3-skimage_*.deb Version >"$dir.tmp/.done"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir"
