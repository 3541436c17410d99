#!/usr/bin/env bash
# The cards-rank target (tools/make_cards.py) from Debian's gnome-cards-data, taken with apt-get
# download and unpacked into $AFT_CACHE (not installed): tools/make_cards.sh OUT [--size N].
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/make_cards.sh OUT [make_cards.py options]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}/cards"
command -v rsvg-convert >/dev/null || { echo "make_cards: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 1; }
if [ ! -f "$cache/.done" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q gnome-cards-data >/dev/null 2>&1) || {
    echo "make_cards: apt-get download gnome-cards-data failed (apt-get update first?)" >&2; exit 1; }
  dpkg-deb -x "$work"/gnome-cards-data_*.deb "$work/x"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  cp -r "$work/x/usr/share/aisleriot/cards" "$cache"
  dpkg-deb -f "$work"/gnome-cards-data_*.deb Version >"$cache/.done"
fi
out="$1"
shift
/usr/bin/python3 "$root/tools/make_cards.py" --decks "$cache" --out "$out" "$@"
