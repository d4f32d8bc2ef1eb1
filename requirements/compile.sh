#!/usr/bin/env bash
# Re-resolve requirements/lock.txt from pyproject.toml. Run after changing dependencies.
#
# Why the extra files (found by trying, see ENVIRONMENT.md in the project notes):
#  - constraints.txt pins torch to the CPU build and keeps setuptools (<81, pyworld imports
#    pkg_resources) and fastapi (<0.151, breaks Prefect's server) in range.
#  - overrides.txt lifts audio-separator's beartype<0.19 bound; without it the resolver falls
#    back to audio-separator 0.16.6, which has no MelBand Roformer.
#  - torchvision and triton are excluded: both are CUDA builds here that nothing on the CPU path
#    needs, and a broken torchvision breaks transformers.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile pyproject.toml --extra test \
  -c requirements/constraints.txt --override requirements/overrides.txt \
  --no-emit-package torchvision --no-emit-package triton \
  --find-links /opt/wheels --python-version 3.11 \
  --no-header --annotation-style line \
  -o requirements/lock.txt "$@"
