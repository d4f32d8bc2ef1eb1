from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltxvoice import kernels
from tests import fixtures


def test_pin_caps_every_library_at_avx2() -> None:
    env: dict[str, str] = {"OPENBLAS_CORETYPE": "SkylakeX"}
    assert kernels.pin(env, has_avx2=True) == kernels.PINNED
    assert env == kernels.CAPS


@pytest.mark.parametrize(("env", "has_avx2"), [({kernels.NATIVE: "1"}, True), ({}, False)])
def test_pin_leaves_native_kernels_when_asked_or_without_avx2(env: dict[str, str], has_avx2: bool) -> None:
    before = dict(env)
    assert kernels.pin(env, has_avx2=has_avx2).startswith("native")
    assert env == before


def test_avx2_is_read_from_the_cpu_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels.platform, "machine", lambda: "x86_64")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n")
    assert kernels.cpu_has_avx2(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    assert not kernels.cpu_has_avx2(info)
    assert not kernels.cpu_has_avx2(tmp_path / "missing")
    monkeypatch.setattr(kernels.platform, "machine", lambda: "aarch64")
    assert not kernels.cpu_has_avx2(info.with_name("x"))


def _pitch(path: Path, **env: str) -> dict[str, float]:
    """``ltxvoice pitch`` in a new process, with OpenBLAS told to use another processor's kernels."""
    clean = {k: v for k, v in os.environ.items() if k not in kernels.CAPS and k != kernels.NATIVE}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ltxvoice"), "pitch", str(path)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.slow  # two fresh interpreters measuring one clip: ~20 s
@pytest.mark.skipif(not kernels.cpu_has_avx2(), reason="the caps apply to x86-64 processors with AVX2")
def test_the_measurement_does_not_follow_the_kernels_the_machine_offers() -> None:
    """OpenBLAS's Sandybridge kernels stand in for another processor: left native they move the
    formant fit's last bits; capped, the numbers are those of any other AVX2 machine."""
    clip = fixtures.alsa_speech()[0]
    pinned = _pitch(clip)
    assert _pitch(clip, OPENBLAS_CORETYPE="Sandybridge") == pinned
    native = _pitch(clip, OPENBLAS_CORETYPE="Sandybridge", **{kernels.NATIVE: "1"})
    assert native != pinned  # the kernel choice does matter, so the check above can fail
    assert native["f1_hz"] == pytest.approx(pinned["f1_hz"], rel=1e-6)  # ... by rounding only
