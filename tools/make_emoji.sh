#!/usr/bin/env bash
# The emoji-category target (tools/make_emoji.py) from three emoji designs Debian ships, taken
# with apt-get download and unpacked into $AFT_CACHE (not installed):
#   fonts-noto-color-emoji (Noto Color Emoji)  libjs-emojify (emojify.js's images)   train
#   ruby-gemojione (EmojiOne 3 SVGs)                                                  test
#   unicode-data (emoji-test.txt: each emoji's Unicode group and subgroup)           labels
# Usage: tools/make_emoji.sh OUT [make_emoji.py options]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/make_emoji.sh OUT [make_emoji.py options]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}/emoji"
command -v rsvg-convert >/dev/null || { echo "make_emoji: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 1; }
/usr/bin/python3 -c "import PIL" 2>/dev/null || { echo "make_emoji: python3-pil missing (apt-get install python3-pil)" >&2; exit 1; }
packages=(fonts-noto-color-emoji libjs-emojify ruby-gemojione unicode-data)
if [ ! -f "$cache/.done" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  for p in "${packages[@]}"; do
    (cd "$work" && apt-get download -q "$p" >/dev/null 2>&1) || {
      echo "make_emoji: apt-get download $p failed (apt-get update first?)" >&2; exit 1; }
    dpkg-deb -x "$work/${p}"_*.deb "$work/x"
    echo "$p $(dpkg-deb -f "$work/${p}"_*.deb Version)" >> "$work/versions"
  done
  gem="$(echo "$work"/x/usr/share/rubygems-integration/all/gems/gemojione-*)"
  mkdir -p "$work/c/emojione"
  cp "$work/x/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf" "$work/c/"
  cp -r "$work/x/usr/share/javascript/emojify.js/images/emoji" "$work/c/emojify"
  cp -r "$gem/assets/svg" "$work/c/emojione/svg"
  cp "$gem/config/index.json" "$work/c/emojione/index.json"
  cp "$work/x/usr/share/unicode/emoji/emoji-test.txt" "$work/c/"
  mv "$work/versions" "$work/c/.done"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  mv "$work/c" "$cache"
fi
out="$1"
shift
/usr/bin/python3 "$root/tools/make_emoji.py" --source "$cache" --out "$out" "$@"
