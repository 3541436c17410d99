#!/usr/bin/env bash
# The icons-name target (tools/make_icons.py) from 14 icon themes Debian ships, taken with apt-get
# download (about 180 MB, once) and unpacked one at a time; only the icons of the 45 classes are
# kept, in $AFT_CACHE/icons (a few MB). Nothing is installed.
# Usage: tools/make_icons.sh OUT [make_icons.py options]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/make_icons.sh OUT [make_icons.py options]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}/icons"
command -v rsvg-convert >/dev/null || { echo "make_icons: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 1; }
/usr/bin/python3 -c "import PIL" 2>/dev/null || { echo "make_icons: python3-pil missing (apt-get install python3-pil)" >&2; exit 1; }
py="$root/tools/make_icons.py"
# package:theme folder under /usr/share/icons
themes=(adwaita-icon-theme:Adwaita breeze-icon-theme:breeze deepin-icon-theme:bloom
  elementary-xfce-icon-theme:elementary-xfce faba-icon-theme:Faba faenza-icon-theme:Faenza
  gnome-icon-theme:gnome gnome-colors-common:gnome-colors-common lxde-icon-theme:nuoveXT2
  numix-icon-theme:Numix oxygen-icon-theme:oxygen papirus-icon-theme:Papirus
  tango-icon-theme:Tango yaru-theme-icon:Yaru)
key="classes $(/usr/bin/python3 "$py" --classes-key)"
if [ ! -f "$cache/.done" ] || ! grep -qxF "$key" "$cache/.done"; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/c"
  for pt in "${themes[@]}"; do
    p="${pt%%:*}" t="${pt#*:}"
    (cd "$work" && apt-get download -q "$p" >/dev/null 2>&1) || {
      echo "make_icons: apt-get download $p failed (apt-get update first?)" >&2; exit 1; }
    deb="$(echo "$work/${p}"_*.deb)"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards "./usr/share/icons/$t/*"
    /usr/bin/python3 "$py" --collect "$work/usr/share/icons/$t" --into "$work/c/$t"
    echo "$p $(dpkg-deb -f "$deb" Version) $t" >> "$work/c/.versions"
    rm -rf "${work:?}/usr" "$deb"
  done
  { cat "$work/c/.versions"; echo "$key"; } > "$work/c/.done"
  rm "$work/c/.versions"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  mv "$work/c" "$cache"
fi
out="$1"
shift
/usr/bin/python3 "$py" --source "$cache" --out "$out" "$@"
