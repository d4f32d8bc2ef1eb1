#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a built demo dataset:
#   apt packages -> .venv with the locked dependencies -> `dvc repro` on the bundled demo sources
#   (through `ltxvoice pipeline`).
#
#   ./setup.sh            set up and run the pipeline
#   ./setup.sh --no-run   set up only (CI uses this)
set -euo pipefail
cd "$(dirname "$0")"

run_pipeline=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run_pipeline=0 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
start=$(date +%s)

# 1. System tools: ffmpeg/ffprobe (media I/O), espeak-ng (demo speech), sox (audio checks).
apt_pkgs=(ffmpeg espeak-ng sox alsa-utils git make chromium)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python: a project-local virtualenv with the exact locked set.
py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3.11 python3.12 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] <= (3,12)))'; then py=$c; break; fi
  done
fi
[ -n "$py" ] || { echo "setup.sh: need Python 3.11 or 3.12 (set PYTHON=/path/to/python)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.8"

# torch is pinned to its CPU build (torch==2.13.0+cpu). Use a local wheel folder when the
# machine has one, otherwise PyTorch's CPU index.
torch_src=()
if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  torch_src=(--find-links /opt/wheels)
else
  torch_src=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
fi
say "installing locked dependencies (requirements/lock.txt)"
# --compile-bytecode: write the .pyc files now. Where PYTHONDONTWRITEBYTECODE is set (as on these CI
# development machines) Python never caches them, and every process - each stage of `dvc repro`, each test that
# starts one - would compile torch, prefect and dvc again (about 4 s of CPU per process).
.venv/bin/uv pip sync -q --compile-bytecode --python .venv/bin/python "${torch_src[@]}" requirements/lock.txt
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
.venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode --no-deps -r requirements/dev.txt   # ruff, mypy
say "environment ready in $(( $(date +%s) - start )) s"

if [ "$run_pipeline" -eq 1 ]; then
  # `ltxvoice pipeline` is `dvc repro` run as one Prefect flow: the stages' flows share one temporary
  # Prefect API instead of each starting its own (about 10 s per stage here), and the run is reported.
  say "running the pipeline on the demo sources: ltxvoice pipeline (dvc repro)"
  # shellcheck disable=SC1091
  . .venv/bin/activate
  ltxvoice pipeline
  say "done in $(( $(date +%s) - start )) s. Activate the environment with: . .venv/bin/activate"
fi
