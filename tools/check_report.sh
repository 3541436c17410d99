#!/usr/bin/env bash
# Opens an `aft report` HTML file in headless Chromium and fails on any JavaScript error:
# an uncaught exception or console.error in the browser log, a page that recorded an error
# (data-aft-error), or fewer rendered charts than the page has canvases. Optionally saves a
# screenshot. Exit 0: fine; 1: JavaScript/render error; 2: usage; 77: no Chromium (skip).
#   tools/check_report.sh REPORT.html [SCREENSHOT.png [WIDTHxHEIGHT]]
set -uo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 REPORT.html [SCREENSHOT.png [WIDTHxHEIGHT]]" >&2
  exit 2
fi
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
  echo "check_report: no Chromium installed; skipped" >&2
  exit 77
fi

report="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A private profile: runs in parallel or as root must not share (or lock) a user profile.
flags=(--headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run --hide-scrollbars
       --disable-background-networking --disable-component-update --disable-sync --disable-quic
       --user-data-dir="$work/profile" --enable-logging=stderr --v=0 --virtual-time-budget=10000)

timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$report" >"$work/dom.html" 2>"$work/log.txt"
status=$?
if [ $status -ne 0 ]; then
  echo "check_report: $browser exited with $status" >&2
  tail -5 "$work/log.txt" >&2
  exit 1
fi

failed=0
# Console messages from the page (Chromium logs them as CONSOLE lines at --v=0).
if grep -E 'CONSOLE.*(Uncaught|Error|error)' "$work/log.txt" >"$work/errors.txt"; then
  echo "check_report: JavaScript errors in $1:" >&2
  cat "$work/errors.txt" >&2
  failed=1
fi
if grep -q 'data-aft-error="' "$work/dom.html"; then
  echo "check_report: the page recorded an error: $(grep -o 'data-aft-error="[^"]*"' "$work/dom.html")" >&2
  failed=1
fi
expected=$(grep -o '<canvas id=' "$report" | wc -l)
if ! grep -q "data-aft-rendered=\"$expected\"" "$work/dom.html"; then
  got=$(grep -o 'data-aft-rendered="[0-9]*"' "$work/dom.html" || echo "none")
  echo "check_report: expected $expected rendered charts, page says: $got" >&2
  failed=1
fi
if [ $failed -ne 0 ]; then exit 1; fi
echo "check_report: $1: $expected charts rendered, no JavaScript errors"

if [ $# -ge 2 ]; then
  size="${3:-1280x2000}"
  timeout 120 "$browser" "${flags[@]}" --window-size="${size/x/,}" --screenshot="$2" "file://$report" \
    >/dev/null 2>"$work/shot.txt"
  if [ ! -s "$2" ]; then
    echo "check_report: no screenshot written to $2" >&2
    tail -5 "$work/shot.txt" >&2
    exit 1
  fi
  echo "check_report: screenshot $2"
fi
