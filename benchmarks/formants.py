"""Formant preservation of the pitch shift, measured the old way (Praat Burg) and the new way
(discrete all-pole modelling of the harmonics, ``ltxvoice.dsp.formants``, as ``select`` gates it).

    python benchmarks/formants.py --out benchmarks/results/formants.md

Three tables:

1. Synthetic utterances with known formants, shifted perfectly (same filter, only the source F0
   moved): any change reported is the measurement's own error.
2. The same synthetic utterances through the real engines, each engine's F1 against the true F1,
   split by whether the formant lies below the original's second harmonic.
3. Every alsa-utils recording and six espeak-ng voices x {psola, world} x {-7, -3, +3, +7}: the old
   measurement (Burg at the frames voiced in both, median frame ratio; the code before this change)
   and the new one (``select.judge``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import parselmouth
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from ltxvoice.config import MeasureParams, SelectParams  # noqa: E402
from ltxvoice.dsp.formants import formant_change, formant_tracks  # noqa: E402
from ltxvoice.dsp.pitch import adapted_range, praat_track  # noqa: E402
from ltxvoice.dsp.shifting import shift  # noqa: E402
from ltxvoice.measure import measure_samples  # noqa: E402
from ltxvoice.media import resample  # noqa: E402
from ltxvoice.select import judge  # noqa: E402
from tests import fixtures  # noqa: E402

SHIFTS = (-7, -3, 3, 7)
ESPEAK = [("en+m1", 20), ("en+m3", 40), ("de+m4", 30), ("en+f2", 50), ("fr+f3", 40), ("en+f4", 70)]


def burg(x16: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The previous measurement: Praat Burg, 5 formants below 5500 Hz, 40 ms, pre-emphasis from 50 Hz."""
    f = parselmouth.Sound(np.asarray(x16, np.float64), sampling_frequency=16000).to_formant_burg(
        time_step=0.01, max_number_of_formants=5.0, maximum_formant=5500.0, window_length=0.04, pre_emphasis_from=50.0)
    return np.array([[f.get_value_at_time(n, float(t)) for t in times] for n in (1, 2)])


def old_change(x: np.ndarray, rate: int, engine: str, semitones: int) -> tuple[float, float]:
    """The code before this change (tests/dsp/test_shifting.py::_formant_changes at 87a5436)."""
    x16 = resample(x, rate, 16000)
    before = praat_track(x16, 16000, 60.0, 600.0)
    lo, hi = adapted_range(before.median(), 60.0, 600.0)
    y16 = resample(shift(x, rate, semitones, engine, floor=lo, ceiling=hi), rate, 16000)  # type: ignore[arg-type]
    after = praat_track(y16, 16000, *adapted_range(before.median() * 2 ** (semitones / 12), 60.0, 600.0))
    t = before.times[before.voiced & after.voiced_at(before.times)]
    a, b = burg(x16, t), burg(y16, t)
    ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0) & (a > 0).all(axis=0)
    d = np.median(b[:, ok] / a[:, ok], axis=1) - 1.0
    return float(d[0]), float(d[1])


def new_change(x: np.ndarray, rate: int, engine: str, semitones: int, before) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    params = MeasureParams()
    lo, hi = adapted_range(before.f0_hz, params.floor_hz, params.ceiling_hz)
    y = shift(x, rate, semitones, engine, floor=lo, ceiling=hi)  # type: ignore[arg-type]
    v = judge(x, y, rate, before.f0_hz * 2 ** (semitones / 12), before.voiced_seconds, before.voiced_fraction,
              SelectParams(), params)
    return v.f1_change, v.f2_change


def pct(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{100 * v:+.1f}%"


def table_ideal() -> list[str]:
    lines = ["| source F0 (Hz) | shift (st) | Burg F1 | Burg F2 | DAP F1 | DAP F2 |", "|---:|---:|---:|---:|---:|---:|"]
    worst = {"burg": 0.0, "dap": 0.0}
    for f0 in (110.0, 150.0, 200.0, 260.0, 300.0):
        x = resample(fixtures.vowel(f0), 48000, 16000)
        before = praat_track(x, 16000, 60.0, 600.0)
        for s in SHIFTS:
            y = resample(fixtures.vowel(f0, 2 ** (s / 12)), 48000, 16000)
            after = praat_track(y, 16000, *adapted_range(before.median() * 2 ** (s / 12), 60.0, 600.0))
            both = before.voiced & after.voiced_at(before.times)
            inner = both & np.r_[False, both[:-1]] & np.r_[both[1:], False]
            t, f0s = before.times[inner], before.f0[inner]
            a, b = burg(x, t), burg(y, t)
            old = [float(np.median(b[k, m] / a[k, m]) - 1) for k in (0, 1)
                   for m in [np.isfinite(a[k]) & np.isfinite(b[k]) & (a[k] >= 2 * f0s)]]
            new = formant_change(x, y, 16000, before, after)
            worst["burg"] = max(worst["burg"], *map(abs, old))
            worst["dap"] = max(worst["dap"], abs(new.f1), abs(new.f2))
            lines.append(f"| {f0:.0f} | {s:+d} | {pct(old[0])} | {pct(old[1])} | {pct(new.f1)} | {pct(new.f2)} |")
    lines.append(f"| **worst** | | {100 * worst['burg']:.1f}% | | {100 * worst['dap']:.1f}% | |")
    return lines


def table_engines() -> list[str]:
    rows: dict[tuple[str, bool], list[float]] = {}
    for f0 in (110.0, 180.0, 250.0):
        x48 = fixtures.vowel(f0)
        x = resample(x48, 48000, 16000)
        before = praat_track(x, 16000, 60.0, 600.0)
        t = before.times[before.voiced]
        truth = np.asarray(fixtures.vowel_formants(t)[0])
        low = truth < 2 * before.f0_at(t)
        lo, hi = adapted_range(before.median(), 60.0, 600.0)
        for s in SHIFTS:
            for engine in ("ideal", "psola", "world"):
                y48 = fixtures.vowel(f0, 2 ** (s / 12)) if engine == "ideal" else shift(x48, 48000, s, engine, lo, hi)  # type: ignore[arg-type]
                y = resample(y48, 48000, 16000)
                after = praat_track(y, 16000, *adapted_range(before.median() * 2 ** (s / 12), 60.0, 600.0))
                f1 = formant_tracks(y, 16000, after, times=t)[0]
                for below in (True, False):
                    m = np.isfinite(f1) & (low == below)
                    rows.setdefault((engine, below), []).extend((f1[m] / truth[m] - 1).tolist())
    lines = ["| signal | F1 below the original's 2nd harmonic | frames | median F1 vs true F1 |", "|---|---|---:|---:|"]
    for (engine, below), v in sorted(rows.items()):
        lines.append(f"| {engine} | {'yes' if below else 'no'} | {len(v)} | {pct(float(np.median(v)))} |")
    return lines


def table_real() -> tuple[list[str], dict[str, int]]:
    items = [(p.stem, *sf.read(p, dtype="float32")) for p in fixtures.alsa_speech()]
    items += [(f"espeak {v} -p {p}", fixtures.espeak_samples(v, p), 48000) for v, p in ESPEAK]
    lines = ["| recording | engine | st | before: F1 | before: F2 | after: F1 | after: F2 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    over = {"before": 0, "after": 0, "cases": 0, "alsa_before": 0, "alsa_after": 0}
    for name, x, rate in items:
        before = measure_samples(x, rate, MeasureParams())
        for engine in ("psola", "world"):
            for s in SHIFTS:
                o = old_change(x, rate, engine, s)
                n = new_change(x, rate, engine, s, before)
                ob, nb = max(map(abs, o)) > 0.05, not max(map(abs, n)) <= 0.05
                over["cases"] += 1
                over["before"] += ob
                over["after"] += nb
                if not name.startswith("espeak"):
                    over["alsa_before"] += ob
                    over["alsa_after"] += nb
                mark = lambda bad, v: f"**{pct(v)}**" if bad else pct(v)  # noqa: E731
                lines.append(f"| {name} | {engine} | {s:+d} | {mark(ob, o[0])} | {mark(ob, o[1])} | "
                             f"{mark(nb, n[0])} | {mark(nb, n[1])} |")
        print(name, flush=True)
    return lines, over


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/formants.md")
    args = ap.parse_args()
    t0 = time.time()
    ideal = table_ideal()
    engines = table_engines()
    real, over = table_real()
    text = [
        "# Formants kept by the pitch shift: what was measured, what is measured now",
        "",
        f"- command: `python benchmarks/{Path(__file__).name}` ({time.time() - t0:.0f} s)",
        "- the why and the method: `src/ltxvoice/dsp/formants.py` (module and `formant_change` docstrings)",
        "",
        "## Findings",
        "",
        "1. **Most of the old failures were the measurement.** Praat's Burg LPC is pulled toward the "
        "harmonics, by an amount that depends on F0, the one thing a pitch shift changes: on a perfect shift "
        "(table 1) it reports F1 changes up to ~13%. On the alsa clips the old failures came from frames where "
        "Burg's \"F1\" was the first harmonic itself (the nasal murmur of \"Center\": F1 215-280 Hz at F0 "
        "200-280 Hz, moving +45% with a +7 st shift). The measurement is now a discrete all-pole fit to the "
        "harmonics (El-Jaroudi and Makhoul 1991), iterated to convergence, whose error on the same perfect "
        "shifts stays within ~1.5%.",
        "2. **A formant below the original's second harmonic is not defined by the original, and the engines "
        "really move it.** There, even a perfect shift reads off by a few percent, and PSOLA and WORLD put F1 "
        "~10-13% above the true filter (table 2): both carry the spectral envelope only as the source's "
        "harmonics sample it (PSOLA's two-period grains, WORLD's F0-adaptive CheapTrick smoothing blur "
        "across +-F0). No measurement of a real recording can tell where such a formant was, so those frames "
        "are left out of the comparison, per formant, by a rule on the original alone (formant >= 2 x F0), "
        "the same for every engine and shift. This is a limit of both engines for high voices in close "
        "vowels that the gate does not (cannot) check.",
        "3. **What remains.** On 1.4 s recordings 24-50 frames are compared; per-frame estimates on real "
        "speech scatter by 3-7%, and the engines' own effect where formants are resolved is +1-2% (table 2). "
        "Two alsa cases still read over 5% (F1 -5.8% and -7.1%, upward PSOLA shifts); the 5% criterion is "
        "kept and they are marked as known failures in `tests/dsp/test_shifting.py`, not excluded.",
        "4. **Tried and rejected.** A 2-pole glottal-source stage before the fit (IAIF-like) made every real "
        "case pass but lost F1 on the synthetic truth (frame errors 6-54%): it measured something else. A "
        "speaker-adapted ceiling chosen by track smoothness picked wrong ceilings on synthetic tracts. Pooling "
        "harmonics over neighbouring frames, median-filtering tracks and equal window lengths for both signals "
        "changed nothing. A fixed number of fit iterations made the result depend on that number, so the fit "
        "now runs to convergence.",
        "",
        "## 1. A perfect shift (same vocal-tract filter, only the source F0 moved)",
        "",
        "Synthetic utterances (`tests/fixtures.py::vowel`, /a/ to /i/ to /u/, five known formants). Both "
        "measurements over the same frames (voiced in both, off voicing edges, formant at or above the "
        "original's second harmonic). The true change is 0: what is reported is the measurement's error.",
        "",
        *ideal,
        "",
        "## 2. The real engines on the same synthetic utterances, against the true F1",
        "",
        "F0 110/180/250 Hz, shifts -7/-3/+3/+7; the shifted signal's F1 (this measurement) against the "
        "filter's F1, split by whether the original's F1 lies below its second harmonic.",
        "",
        *engines,
        "",
        "## 3. Real recordings: before (Praat Burg, code at 87a5436) and after (`select.judge`)",
        "",
        f"Over 5% (bold): before {over['before']} of {over['cases']} ({over['alsa_before']} of 64 alsa), "
        f"after {over['after']} of {over['cases']} ({over['alsa_after']} of 64 alsa).",
        "",
        *real,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
