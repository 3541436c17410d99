#!/usr/bin/env bash
# A hostile user's battery against the aft binary: files planted in a run's and a dataset's
# subfolders, folders appearing mid-write, two writers, --out inside the data, a full disk,
# absurd limits, stale and empty locks, weights that do not load or are damaged, corrupt images,
# decompression bombs, bad option values, kill -9 and --resume. Prints a markdown table
# (case | expected | seen | ok) and exits non-zero when a case misbehaves.
#   tools/hostile.sh [AFT_BINARY]    (default build/aft; scratch in $TMPDIR)
# The last result is in docs/hostile.md.
set -uo pipefail
AFT=${1:-build/aft}
AFT=$(readlink -f "$AFT")
W=$(mktemp -d "${TMPDIR:-/tmp}/aft_hostile.XXXXXX")
trap 'rm -rf "$W"' EXIT
TINY="--model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet"
HOST=$(hostname)
FAILED=0
ROWS=()

row() {  # case, expected, seen, ok(0/1)
  local mark=yes
  if [ "$4" != 0 ]; then mark=NO; FAILED=$((FAILED + 1)); fi
  ROWS+=("| $1 | $2 | ${3//|/\\|} | $mark |")
}
# Runs aft; sets OUT_TEXT (its output, one line if possible) and CODE.
a() { OUT_TEXT=$("$AFT" "$@" 2>&1); CODE=$?; }
# The message of a refused command, when it is exactly one "aft: error:" line.
one_line() { [ "$CODE" != 0 ] && [ "$(printf '%s\n' "$OUT_TEXT" | wc -l)" = 1 ] && [[ "$OUT_TEXT" == "aft: error: "* ]]; }
short() { printf '%s' "$1" | head -c 150 | tr '\n' ' '; }
pretrain() { local out=$1; shift; a pretrain $TINY --data "$W/fm" --out "$out" "$@"; }

a data fashion-mnist --out "$W/fm" --classes 0,1 --per-class 16 --test-per-class 4 || exit 1
pretrain "$W/src" --epochs 1
[ "$CODE" = 0 ] || { echo "setup failed: $OUT_TEXT"; exit 1; }

# 1. A user's file inside a run's tb/ and checkpoint/.
pretrain "$W/r1" --epochs 1
for sub in tb checkpoint; do
  echo mine > "$W/r1/$sub/note.txt"
  pretrain "$W/r1" --epochs 1 --overwrite
  ok=1; one_line && [[ "$OUT_TEXT" == *"$sub/note.txt"* ]] && [ -f "$W/r1/$sub/note.txt" ] && ok=0
  row "overwrite, a file in $sub/" "refused naming $sub/note.txt; file kept" "exit $CODE: $(short "$OUT_TEXT")" $ok
  rm -f "$W/r1/$sub/note.txt"
done

# 2. A user's file inside a dataset's class folder.
a data fashion-mnist --out "$W/d2" --classes 0,1 --per-class 2 --test-per-class 2
echo mine > "$W/d2/train/t-shirt/mine.txt"
a data fashion-mnist --out "$W/d2" --classes 0,1 --per-class 2 --test-per-class 2 --overwrite
ok=1; one_line && [ -f "$W/d2/train/t-shirt/mine.txt" ] && ok=0
row "data --overwrite, a file in a class folder" "refused naming it; file kept" "exit $CODE: $(short "$OUT_TEXT")" $ok

# 3. A folder created at --out while aft data runs.
"$AFT" data fashion-mnist --out "$W/d3" --per-class 600 --test-per-class 10 >"$W/d3.log" 2>&1 &
pid=$!
for _ in $(seq 100); do compgen -G "$W/d3.tmp.*" >/dev/null && break; sleep 0.05; done
mkdir -p "$W/d3" && echo "years of work" > "$W/d3/thesis.txt"
wait $pid; CODE=$?; OUT_TEXT=$(cat "$W/d3.log")
ok=1; [ "$CODE" != 0 ] && [ "$(cat "$W/d3/thesis.txt")" = "years of work" ] && ok=0
row "a folder appears at --out mid-write" "non-zero exit; the folder untouched" "exit $CODE: $(short "$OUT_TEXT")" $ok

# 4. Two aft data on one --out.
wins=0
for t in 1 2 3 4 5 6; do
  "$AFT" data fashion-mnist --out "$W/d4_$t" --classes 0,1 --per-class 8 >/dev/null 2>&1 & p1=$!
  "$AFT" data fashion-mnist --out "$W/d4_$t" --classes 0,1 --per-class 8 >/dev/null 2>&1 & p2=$!
  s=0; wait $p1 && s=$((s + 1)); wait $p2 && s=$((s + 1))
  [ $s = 1 ] && wins=$((wins + 1))
done
ok=1; [ $wins = 6 ] && ok=0
row "two aft data, same --out (6 tries)" "exactly one succeeds each time" "$wins of 6 tries had exactly one success" $ok

# 5. --out inside the data, directly and through a symlink.
pretrain "$W/fm/train/ZZ" --epochs 1
ok=1; one_line && [ ! -e "$W/fm/train/ZZ" ] && ok=0
row "--out DATA/train/ZZ" "refused; data unchanged" "exit $CODE: $(short "$OUT_TEXT")" $ok
ln -s "$W/fm/train" "$W/trainlink"
pretrain "$W/trainlink/ZZ" --epochs 1
ok=1; one_line && [ ! -e "$W/fm/train/ZZ" ] && ok=0
row "--out LINK/ZZ, LINK -> DATA/train" "refused; data unchanged" "exit $CODE: $(short "$OUT_TEXT")" $ok

# 6. Disk full writing checkpoint/optimizer.pt (injected ENOSPC at epoch 2), then --resume.
OUT_TEXT=$(AFT_TEST_FAIL_WRITE=optimizer.pt@2 "$AFT" pretrain $TINY --data "$W/fm" --out "$W/r6" --epochs 3 2>&1); CODE=$?
ok=1; one_line && [[ "$OUT_TEXT" == *"disk full"*"epoch 1"* ]] && [ ! -e "$W/r6/.lock" ] && [ ! -e "$W/r6/checkpoint.tmp" ] && ok=0
row "disk full writing optimizer.pt" "one line; epoch-1 checkpoint kept; no lock or temp left" "exit $CODE: $(short "$OUT_TEXT")" $ok
a pretrain --resume "$W/r6" --quiet
ok=1; [ "$CODE" = 0 ] && [ -f "$W/r6/summary.json" ] && ok=0
row "... then --resume" "finishes" "exit $CODE" $ok

# 7. Limits.
# Cases that set a flag TINY sets already run without TINY's own value of it.
without() { local t=" $TINY "; for f in "$@"; do t=$(printf '%s' "$t" | sed -E "s/ $f [^ ]+ / /"); done; printf '%s' "$t"; }
a pretrain $(without --threads) --data "$W/fm" --out "$W/r7" --epochs 1 --threads $(( $(nproc) + 1 ))
ok=1; [ "$CODE" = 0 ] && [[ "$OUT_TEXT" == *"more than the"* ]] && ok=0
row "--threads cores+1" "runs, capped with a warning" "exit $CODE: $(short "$OUT_TEXT")" $ok
for bad in "--threads 10000" "--workers 10000" "--width -1" "--image-size 4096 --batch-size 64" "--lr inf" "--epochs 0" \
           "--momentum 1.5" "--image-size 1"; do
  flags=$(printf '%s\n' $bad | grep -- '^--' | tr '\n' ' ')
  # shellcheck disable=SC2086
  a pretrain $(without $flags) --data "$W/fm" --out "$W/r7b" $([[ "$bad" == --epochs* ]] || echo --epochs 1) $bad
  ok=1; one_line && [[ "$OUT_TEXT" == *"${bad%% *}"* ]] && [ ! -e "$W/r7b" ] && ok=0
  row "$bad" "one line naming ${bad%% *}; nothing written" "exit $CODE: $(short "$OUT_TEXT")" $ok
done

# 8. Locks.
mkdir -p "$W/r8" && : > "$W/r8/.lock"
pretrain "$W/r8" --epochs 1
ok=1; [ "$CODE" = 0 ] && [ ! -e "$W/r8/.lock" ] && ok=0
row "empty .lock" "taken over" "exit $CODE" $ok
sleep 300 & holder=$!
echo "$holder $HOST" > "$W/r8/.lock"
pretrain "$W/r8" --epochs 1 --overwrite
ok=1; one_line && [[ "$OUT_TEXT" == *"pid $holder on $HOST"* ]] && ok=0
row "live holder's .lock" "refused naming pid and host" "exit $CODE: $(short "$OUT_TEXT")" $ok
kill $holder; wait $holder 2>/dev/null
pretrain "$W/r8" --epochs 1 --overwrite
ok=1; [ "$CODE" = 0 ] && [[ "$OUT_TEXT" == *"no longer runs"* ]] && ok=0
row "dead holder's .lock" "taken over with a warning" "exit $CODE: $(short "$OUT_TEXT")" $ok

# 9. Weights that do not load, a truncated config.json, damaged weights.
a finetune ${TINY/--width 0.125/--width 0.25} --weights "$W/src" --data "$W/fm" --out "$W/r9" --epochs 1
ok=1; one_line && [ ! -e "$W/r9" ] && ok=0
row "weights that do not fit the model" "one line; no folder left" "exit $CODE: $(short "$OUT_TEXT")" $ok
pretrain "$W/r9t" --epochs 1; rm "$W/r9t/summary.json"; head -c 40 "$W/r9t/config.json" > "$W/c" && mv "$W/c" "$W/r9t/config.json"
a pretrain --resume "$W/r9t" --quiet
ok=1; one_line && [[ "$OUT_TEXT" == *truncated* ]] && ok=0
row "--resume, truncated config.json" "one line saying truncated" "exit $CODE: $(short "$OUT_TEXT")" $ok
head -c 100 /dev/urandom > "$W/garbage.safetensors"
a finetune $TINY --weights "$W/garbage.safetensors" --data "$W/fm" --out "$W/r9g" --epochs 1
ok=1; one_line && [ ! -e "$W/r9g" ] && ok=0
row "random bytes as --weights" "one line; no folder" "exit $CODE: $(short "$OUT_TEXT")" $ok

# 10. --candidates.
a finetune --method auto --candidates bogus --weights x --data y --out z
ok=1; one_line && [[ "$OUT_TEXT" == *"--candidates bogus"* ]] && ok=0
row "--candidates bogus" "one line naming --candidates" "exit $CODE: $(short "$OUT_TEXT")" $ok

# Corrupt images and decompression bombs.
cp -r "$W/fm" "$W/fmbad" && rm -f "$W/fmbad/.aft-manifest"
f=$(ls "$W/fmbad/train/t-shirt/"*.png | head -1); head -c 60 "$f" > "$W/x" && mv "$W/x" "$f"
a pretrain $TINY --data "$W/fmbad" --out "$W/r11" --epochs 1
ok=1; one_line && [[ "$OUT_TEXT" == *"$(basename "$f")"* ]] && ok=0
row "a truncated PNG in the data" "one line naming the file" "exit $CODE: $(short "$OUT_TEXT")" $ok
a pretrain $TINY --data "$W/fmbad" --out "$W/r11s" --epochs 1 --skip-bad
ok=1; [ "$CODE" = 0 ] && ok=0
row "... with --skip-bad" "runs, skipping it" "exit $CODE" $ok
python3 - "$W/bomb.png" <<'EOF'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
raw = zlib.compress(b"\0" * 1000)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
EOF
a predict --run "$W/src" "$W/bomb.png"
ok=1; one_line && [[ "$OUT_TEXT" == *pixels* ]] && ok=0
row "a 20000x20000 PNG header (bomb)" "refused before decoding" "exit $CODE: $(short "$OUT_TEXT")" $ok

# kill -9 during training, then --resume: the same weights as a run never interrupted.
pretrain "$W/k_ref" --epochs 4
"$AFT" pretrain $TINY --data "$W/fm" --out "$W/k" --epochs 4 >/dev/null 2>&1 & pid=$!
for _ in $(seq 600); do [ -f "$W/k/checkpoint/state.json" ] && break; sleep 0.02; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
a pretrain --resume "$W/k" --quiet
same_tensors() {  # the tensors of two safetensors files, byte for byte (metadata aside)
  python3 - "$1" "$2" <<'EOF'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: body[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}
sys.exit(0 if tensors(sys.argv[1]) == tensors(sys.argv[2]) else 1)
EOF
}
same=differ; same_tensors "$W/k/model.safetensors" "$W/k_ref/model.safetensors" && same=identical
ok=1; [ "$CODE" = 0 ] && [ $same = identical ] && ok=0
row "kill -9 after a checkpoint, --resume" "finishes; weights identical to an uninterrupted run" "exit $CODE; tensors $same" $ok

echo "| case | expected | seen | ok |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "$(( ${#ROWS[@]} - FAILED )) of ${#ROWS[@]} cases behave ($(date -u +%Y-%m-%d), $(nproc) cores)"
[ "$FAILED" = 0 ]
