"""Formant preservation of the pitch shift: the engines as they come and with the shift stage's
envelope restoration (``ltxvoice.dsp.shifting.restore_envelope``), measured the old way (Praat Burg)
and the way ``select`` gates it (discrete all-pole modelling of the harmonics, ``ltxvoice.dsp.formants``).

    python benchmarks/formants.py --out benchmarks/results/formants.md

Seven tables:

1. Synthetic utterances with known formants, shifted perfectly (same filter, only the source F0
   moved): any change reported is the measurement's own error.
2. The same synthetic utterances through each variant, its F1 against the true F1, split by whether
   the formant lies below the original's second harmonic.
3. Every alsa-utils recording and six espeak-ng voices x each variant x {-7, -3, +3, +7}: Burg at the
   frames voiced in both (the measurement before 87a5436) and ``select.judge``.
4. Tables 1 and 2 again with a Rosenberg glottal pulse (open quotient 0.6) instead of the fixture's
   smooth -6 dB/octave source: how far the measurement and the variants go with a realistic source.
5. The two alsa cases over 5% without the restoration, frame by frame, every variant.
6. Without any formant fit: each shifted harmonic's level against the original's harmonic levels
   interpolated (in dB) at its frequency, on all alsa recordings, by band and shift direction.
7. What the restoration costs: harmonics-to-noise ratio and level.
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

from scipy.signal import lfilter  # noqa: E402

from ltxvoice.config import MeasureParams, SelectParams  # noqa: E402
from ltxvoice.dsp.formants import formant_change, formant_tracks, harmonic_powers  # noqa: E402
from ltxvoice.dsp.pitch import adapted_range, praat_track  # noqa: E402
from ltxvoice.dsp.shifting import shift  # noqa: E402
from ltxvoice.measure import measure_samples  # noqa: E402
from ltxvoice.media import resample  # noqa: E402
from ltxvoice.select import judge  # noqa: E402
from tests import fixtures  # noqa: E402

SHIFTS = (-7, -3, 3, 7)
# Each engine as it comes ("psola", "world") and with the shift stage's default envelope restoration
# ("psola+env", "world+env": ltxvoice.dsp.shifting.restore_envelope).
VARIANTS = ("psola", "world", "psola+env", "world+env")


def shifted(x: np.ndarray, rate: int, semitones: int, variant: str, lo: float, hi: float) -> np.ndarray:
    engine, _, env = variant.partition("+")
    return shift(x, rate, semitones, engine, floor=lo, ceiling=hi, restore=bool(env))  # type: ignore[arg-type]


ESPEAK = [("en+m1", 20), ("en+m3", 40), ("de+m4", 30), ("en+f2", 50), ("fr+f3", 40), ("en+f4", 70)]


def burg(x16: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The previous measurement: Praat Burg, 5 formants below 5500 Hz, 40 ms, pre-emphasis from 50 Hz."""
    f = parselmouth.Sound(np.asarray(x16, np.float64), sampling_frequency=16000).to_formant_burg(
        time_step=0.01, max_number_of_formants=5.0, maximum_formant=5500.0, window_length=0.04, pre_emphasis_from=50.0
    )
    return np.array([[f.get_value_at_time(n, float(t)) for t in times] for n in (1, 2)])


def old_change(x: np.ndarray, rate: int, variant: str, semitones: int) -> tuple[float, float]:
    """The code before this change (tests/dsp/test_shifting.py::_formant_changes at 87a5436)."""
    x16 = resample(x, rate, 16000)
    before = praat_track(x16, 16000, 60.0, 600.0)
    lo, hi = adapted_range(before.median(), 60.0, 600.0)
    y16 = resample(shifted(x, rate, semitones, variant, lo, hi), rate, 16000)
    after = praat_track(y16, 16000, *adapted_range(before.median() * 2 ** (semitones / 12), 60.0, 600.0))
    t = before.times[before.voiced & after.voiced_at(before.times)]
    a, b = burg(x16, t), burg(y16, t)
    ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0) & (a > 0).all(axis=0)
    d = np.median(b[:, ok] / a[:, ok], axis=1) - 1.0
    return float(d[0]), float(d[1])


def new_change(x: np.ndarray, rate: int, variant: str, semitones: int, before) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    params = MeasureParams()
    lo, hi = adapted_range(before.f0_hz, params.floor_hz, params.ceiling_hz)
    y = shifted(x, rate, semitones, variant, lo, hi)
    v = judge(
        x,
        y,
        rate,
        before.f0_hz * 2 ** (semitones / 12),
        before.voiced_seconds,
        before.voiced_fraction,
        SelectParams(),
        params,
    )
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
            old = [
                float(np.median(b[k, m] / a[k, m]) - 1)
                for k in (0, 1)
                for m in [np.isfinite(a[k]) & np.isfinite(b[k]) & (a[k] >= 2 * f0s)]
            ]
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
            for engine in ("ideal", *VARIANTS):
                y48 = fixtures.vowel(f0, 2 ** (s / 12)) if engine == "ideal" else shifted(x48, 48000, s, engine, lo, hi)
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


def rosenberg_vowel(
    f0_hz: float,
    ratio: float = 1.0,
    formant_scale: float = 1.0,
    rate: int = 48000,
    seconds: float = 1.4,
    open_quotient: float = 0.6,
    speed_quotient: float = 2.5,
) -> np.ndarray:
    """``fixtures.vowel``'s utterance (same intonation, same five-resonator filter) driven by a Rosenberg
    glottal flow derivative instead of filtered impulses: a source whose harmonics are not a smooth
    slope (h1 strong, spectral dips that move with F0), as in real phonation."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = f0_hz * ratio * (1.0 + 0.15 * np.sin(2 * np.pi * 0.8 * t))
    phase = np.cumsum(f0 / rate) % 1.0
    rise = open_quotient * speed_quotient / (1 + speed_quotient)
    fall = open_quotient / (1 + speed_quotient)
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(np.pi * (phase - rise) / (2 * fall)), 0.0),
    )
    y = np.diff(flow, prepend=0.0) + 0.0002 * np.random.default_rng(0).standard_normal(n)
    block = int(0.005 * rate)
    for k, bw in enumerate(fixtures.VOWEL_BANDWIDTHS):
        out, state = np.zeros(n), np.zeros(2)
        r = np.exp(-np.pi * bw / rate)
        for s in range(0, n, block):
            c = 2 * r * np.cos(2 * np.pi * formant_scale * fixtures.vowel_formants(t[s])[k] / rate)
            out[s : s + block], state = lfilter([1 - c + r * r], [1.0, -c, r * r], y[s : s + block], zi=state)
        y = out
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def table_glottal() -> list[str]:
    """Per case: F1 change (the comparison select makes) and each signal's F1 against the true F1."""
    cases: dict[tuple[str, str], list[float]] = {}
    truth_err: dict[tuple[str, str], list[float]] = {}
    for f0 in (120.0, 170.0, 220.0):
        for scale in (0.9, 1.1):
            x48 = rosenberg_vowel(f0, 1.0, scale)
            x = resample(x48, 48000, 16000)
            before = praat_track(x, 16000, 60.0, 600.0)
            lo, hi = adapted_range(before.median(), 60.0, 600.0)
            for s in SHIFTS:
                r = 2 ** (s / 12)
                for engine in ("ideal", *VARIANTS):
                    y48 = rosenberg_vowel(f0, r, scale) if engine == "ideal" else shifted(x48, 48000, s, engine, lo, hi)
                    y = resample(y48, 48000, 16000)
                    after = praat_track(y, 16000, *adapted_range(before.median() * r, 60.0, 600.0))
                    both = before.voiced & after.voiced_at(before.times)
                    inner = both & np.r_[False, both[:-1]] & np.r_[both[1:], False]
                    t, f0s = before.times[inner], before.f0[inner]
                    truth = np.asarray(fixtures.vowel_formants(t)[0]) * scale
                    a = formant_tracks(x, 16000, before, times=t)[0]
                    b = formant_tracks(y, 16000, after, times=t)[0]
                    ok = np.isfinite(a) & np.isfinite(b) & (a >= 2 * f0s)
                    key = (engine, "up" if s > 0 else "down")
                    cases.setdefault(key, []).append(float(np.median(b[ok] / a[ok]) - 1))
                    truth_err.setdefault(key, []).extend((b[ok] / truth[ok] - 1).tolist())
                    truth_err.setdefault(("original", "-"), []).extend(
                        (a[ok] / truth[ok] - 1).tolist() if engine == "ideal" else []
                    )
    lines = [
        "| signal | shifts | cases | F1 change: mean | F1 change: worst | cases over 5% | median F1 vs true F1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(cases):
        v = np.array(cases[key])
        lines.append(
            f"| {key[0]} | {key[1]} | {v.size} | {pct(float(v.mean()))} | {pct(float(v[np.argmax(np.abs(v))]))} | "
            f"{int((np.abs(v) > 0.05).sum())} | {pct(float(np.median(truth_err[key])))} |"
        )
    lines.append(f"| original | - | | | | | {pct(float(np.median(truth_err[('original', '-')])))} |")
    return lines


FRAME_CASES = (("Rear_Left", 3), ("Rear_Right", 7))


def table_frames() -> list[str]:
    """F1 frame by frame at the frames the F1 comparison counts, for the two cases over 5% before the
    envelope restoration, each variant measured at the same frames."""
    params = MeasureParams()
    lines = [
        "| recording | st | t (s) | F0 (Hz) | shifted F0 | F1 original | "
        + " | ".join(f"F1 {v}" for v in VARIANTS)
        + " | "
        + " | ".join(VARIANTS)
        + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(VARIANTS)),
    ]
    for name, s in FRAME_CASES:
        x, rate = sf.read(fixtures.ALSA_DIR / f"{name}.wav", dtype="float32")
        m = measure_samples(x, rate, params)
        lo, hi = adapted_range(m.f0_hz, params.floor_hz, params.ceiling_hz)
        target_range = adapted_range(m.f0_hz * 2 ** (s / 12), params.floor_hz, params.ceiling_hz)
        before = praat_track(
            resample(x, rate, params.pitch_rate), params.pitch_rate, params.floor_hz, params.ceiling_hz
        )
        xa = resample(x, rate, params.analysis_rate)
        f1, voiced = {}, before.voiced.copy()
        shifted_f0 = {}
        for engine in VARIANTS:
            y = shifted(x, rate, s, engine, lo, hi)
            after = praat_track(resample(y, rate, params.pitch_rate), params.pitch_rate, *target_range)
            voiced &= after.voiced_at(before.times)
            f1[engine] = formant_tracks(
                resample(y, rate, params.analysis_rate),
                params.analysis_rate,
                after,
                params.max_formant_hz,
                before.times,
            )[0]
            shifted_f0[engine] = after.f0_at(before.times)
        inner = voiced & np.r_[False, voiced[:-1]] & np.r_[voiced[1:], False]
        a = formant_tracks(xa, params.analysis_rate, before, params.max_formant_hz, before.times)[0]
        counted = (
            inner
            & np.isfinite(a)
            & (a >= 2 * before.f0)
            & np.logical_and.reduce([np.isfinite(f1[v]) for v in VARIANTS])
        )
        for i in np.nonzero(counted)[0]:
            lines.append(
                f"| {name} | {s:+d} | {before.times[i]:.3f} | {before.f0[i]:.0f} | {shifted_f0['psola'][i]:.0f} | "
                f"{a[i]:.0f} | "
                + " | ".join(f"{f1[v][i]:.0f}" for v in VARIANTS)
                + " | "
                + " | ".join(pct(f1[v][i] / a[i] - 1) for v in VARIANTS)
                + " |"
            )
        medians = " | ".join(f"**{pct(float(np.median(f1[v][counted] / a[counted] - 1)))}**" for v in VARIANTS)
        lines.append(f"| {name} | {s:+d} | **median** | | | |" + " |" * len(VARIANTS) + f" {medians} |")
    return lines


def pulse_check() -> list[str]:
    """Where the PSOLA Manipulation's glottal pulses disagree (> 8%) with its own pitch tier, for the two
    recordings of table 5, with the range the stage gives it."""
    from parselmouth.praat import call

    params = MeasureParams()
    lines = []
    for name, _ in FRAME_CASES:
        x, rate = sf.read(fixtures.ALSA_DIR / f"{name}.wav", dtype="float64")
        lo, hi = adapted_range(
            measure_samples(x.astype(np.float32), rate, params).f0_hz, params.floor_hz, params.ceiling_hz
        )
        manipulation = call(parselmouth.Sound(x, sampling_frequency=rate), "To Manipulation", 0.01, lo, hi)
        pulses, tier = call(manipulation, "Extract pulses"), call(manipulation, "Extract pitch tier")
        t = np.array([call(pulses, "Get time from index", i + 1) for i in range(call(pulses, "Get number of points"))])
        tt = np.array([call(tier, "Get time from index", i + 1) for i in range(call(tier, "Get number of points"))])
        ft = np.array([call(tier, "Get value at index", i + 1) for i in range(tt.size)])
        period = np.diff(t)
        inside = period < 0.02  # consecutive pulses of one voiced stretch
        ratio = 1 / period / np.interp((t[1:] + t[:-1]) / 2, tt, ft)
        off = inside & (np.abs(ratio - 1) > 0.08)
        starts = np.r_[True, ~inside[:-1]]  # the first period of each voiced stretch
        lines.append(
            f"- {name}: {t.size} pulses, {int(inside.sum())} periods inside voiced stretches, "
            f"{int(off.sum())} off the pitch tier by more than 8%, at "
            + ", ".join(f"{t[i]:.3f} s ({100 * (ratio[i] - 1):+.0f}%)" for i in np.nonzero(off)[0])
            + "; voiced stretches start at "
            + ", ".join(f"{t[i]:.3f} s" for i in np.nonzero(starts & inside)[0])
        )
    return lines


def table_envelope() -> list[str]:
    """Median level (dB) of the shifted signal's harmonics relative to the original's harmonics
    interpolated linearly in dB at the same frequency, each frame's offset removed over 1-3 kHz."""
    params = MeasureParams()
    bands = ((0, 300), (300, 600), (600, 1000))
    dev: dict[tuple[str, str, int], list[float]] = {}
    for path in fixtures.alsa_speech():
        x, rate = sf.read(path, dtype="float32")
        m = measure_samples(x, rate, params)
        lo, hi = adapted_range(m.f0_hz, params.floor_hz, params.ceiling_hz)
        before = praat_track(
            resample(x, rate, params.pitch_rate), params.pitch_rate, params.floor_hz, params.ceiling_hz
        )
        xa = resample(x, rate, params.analysis_rate)
        for engine in VARIANTS:
            for s in SHIFTS:
                y = shifted(x, rate, s, engine, lo, hi)
                after = praat_track(
                    resample(y, rate, params.pitch_rate),
                    params.pitch_rate,
                    *adapted_range(m.f0_hz * 2 ** (s / 12), params.floor_hz, params.ceiling_hz),
                )
                both = before.voiced & after.voiced_at(before.times)
                t = before.times[both & np.r_[False, both[:-1]] & np.r_[both[1:], False]]
                fa, pa, oka = harmonic_powers(xa, params.analysis_rate, t, before.f0_at(t), params.max_formant_hz)
                fb, pb, okb = harmonic_powers(
                    resample(y, rate, params.analysis_rate),
                    params.analysis_rate,
                    t,
                    after.f0_at(t),
                    params.max_formant_hz,
                )
                for i in np.nonzero(oka & okb)[0]:
                    ma, mb = pa[i] > 0, pb[i] > 0
                    d = 10 * np.log10(pb[i, mb]) - np.interp(fb[i, mb], fa[i, ma], 10 * np.log10(pa[i, ma]))
                    f = fb[i, mb]
                    d -= np.median(d[(f > 1000) & (f < 3000)])
                    for j, (b0, b1) in enumerate(bands):
                        dev.setdefault((engine, "up" if s > 0 else "down", j), []).extend(
                            d[(f >= b0) & (f < b1)].tolist()
                        )
    lines = [
        "| engine | shifts | " + " | ".join(f"{b0}-{b1} Hz" for b0, b1 in bands) + " |",
        "|---|---|---:|---:|---:|",
    ]
    for engine in VARIANTS:
        for direction in ("down", "up"):
            cells = " | ".join(f"{np.median(dev[(engine, direction, j)]):+.1f} dB" for j in range(len(bands)))
            lines.append(f"| {engine} | {direction} | {cells} |")
    return lines


def table_quality() -> list[str]:
    """What the restoration costs in periodicity and level: Praat's cross-correlation HNR (median over
    frames with a value) and the RMS level against the original, on all alsa recordings."""
    params = MeasureParams()

    def hnr(x: np.ndarray, rate: int) -> float:
        h = (
            parselmouth.Sound(np.asarray(x, np.float64), sampling_frequency=rate)
            .to_harmonicity_cc(time_step=0.01, minimum_pitch=75.0)
            .values[0]
        )
        return float(np.median(h[h > -100]))

    def level(y: np.ndarray, x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(np.square(y, dtype=np.float64)) / np.mean(np.square(x, dtype=np.float64))))

    rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for path in fixtures.alsa_speech():
        x, rate = sf.read(path, dtype="float32")
        m = measure_samples(x, rate, params)
        lo, hi = adapted_range(m.f0_hz, params.floor_hz, params.ceiling_hz)
        rows.setdefault(("original", "-"), []).append((hnr(x, rate), 0.0))
        for engine in VARIANTS:
            for s in SHIFTS:
                y = shifted(x, rate, s, engine, lo, hi)
                rows.setdefault((engine, "up" if s > 0 else "down"), []).append((hnr(y, rate), level(y, x)))
    lines = ["| signal | shifts | HNR (dB) | level vs original |", "|---|---|---:|---:|"]
    for (engine, direction), v in rows.items():
        h, lv = np.median(np.array(v), axis=0)
        lines.append(f"| {engine} | {direction} | {h:.1f} | {lv:+.1f} dB |")
    return lines


def table_real() -> tuple[list[str], dict[tuple[str, str], int]]:
    items = [(p.stem, *sf.read(p, dtype="float32")) for p in fixtures.alsa_speech()]
    items += [(f"espeak {v} -p {p}", fixtures.espeak_samples(v, p), 48000) for v, p in ESPEAK]
    lines = [
        "| recording | variant | st | Burg: F1 | Burg: F2 | select: F1 | select: F2 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    over: dict[tuple[str, str], int] = {}
    for name, x, rate in items:
        before = measure_samples(x, rate, MeasureParams())
        for engine in VARIANTS:
            for s in SHIFTS:
                o = old_change(x, rate, engine, s)
                n = new_change(x, rate, engine, s, before)
                ob, nb = max(map(abs, o)) > 0.05, not max(map(abs, n)) <= 0.05
                group = "espeak" if name.startswith("espeak") else "alsa"
                for key, bad in (("burg", ob), ("select", nb)):
                    over[(engine, f"{group} {key}")] = over.get((engine, f"{group} {key}"), 0) + bad
                mark = lambda bad, v: f"**{pct(v)}**" if bad else pct(v)  # noqa: E731
                lines.append(
                    f"| {name} | {engine} | {s:+d} | {mark(ob, o[0])} | {mark(ob, o[1])} | "
                    f"{mark(nb, n[0])} | {mark(nb, n[1])} |"
                )
        print(name, flush=True)
    return lines, over


FINDINGS: list[str] = [
    "1. **Most of the old failures were the measurement.** Praat's Burg LPC is pulled toward the "
    "harmonics, by an amount that depends on F0, the one thing a pitch shift changes: on a perfect shift "
    "(table 1) it reports F1 changes up to ~13%. On the alsa clips the old failures came from frames where "
    'Burg\'s "F1" was the first harmonic itself (the nasal murmur of "Center": F1 215-280 Hz at F0 '
    "200-280 Hz, moving +45% with a +7 st shift). The measurement is now a discrete all-pole fit to the "
    "harmonics (El-Jaroudi and Makhoul 1991), iterated to convergence, whose error on the same perfect "
    "shifts stays within ~1.5%.",
    "2. **A formant below the original's second harmonic is not defined by the original.** No measurement "
    "of a real recording can tell where such a formant was, so those frames are left out of the comparison, "
    "per formant, by a rule on the original alone (formant >= 2 x F0), the same for every engine and shift. "
    "The engines as they come put F1 there 9.5% (WORLD) and 13.0% (PSOLA) above the true filter (table 2), "
    "as neither carries the envelope exactly (below); with the envelope restored both are at +3.1%, where a "
    "perfect shift reads +3.6%.",
    "3. **The engines moved F1, and restoring the envelope puts it back.** Both engines carry the spectral "
    "envelope only as the source's harmonics sample it. Praat's PSOLA overlap-adds grains two source periods "
    "long, whose window smears the spectrum by about +-F0 of the source: on upward shifts the harmonics under "
    "F1 come out +0.9 dB above the original's envelope (table 6, no formant fit), next to a strong first "
    "harmonic, and the fitted F1 drops. On the alsa recordings that made Rear_Left +3 read F1 -5.8% and "
    "Rear_Right +7 -7.1% (table 3), concentrated in a few clusters of frames (table 5; the Manipulation's "
    "pulses were checked and are sound). Praat offers no other grain length, and its other settings made "
    "other cases worse (a speaker-adapted Manipulation range: -7.6%/-5.2% and Rear_Center -3 at +6.0%; a "
    "5 ms time step: -8.8%/-4.7%/+6.1%). The shift now restores the envelope after either engine "
    "(`ltxvoice.dsp.shifting.restore_envelope`, `shift.restore_envelope: true` by default): per 5 ms frame "
    "voiced in both signals, the ratio of the original's all-pole envelope (fitted to its harmonics at its "
    "F0) to the shifted signal's (fitted to its harmonics at the new F0), normalised to keep the harmonics' "
    "power, capped at +-6 dB, averaged over 45 ms and applied as a gain in the short-time Fourier domain; "
    "unvoiced frames pass through untouched. Result: 0 of 64 alsa and 0 of 48 espeak cases over 5% (worst "
    "1.9% PSOLA, 3.3% WORLD), from 2 and 0.",
    "   - *Not a measurement artefact.* The restoration uses the same all-pole fit that `select` measures "
    "with, so the select column alone cannot tell a real improvement from one the measurement agrees with "
    "by construction. The checks that do not share it: against the synthetic filter's true F1, PSOLA goes "
    "from +2.2% to +1.0% (table 2; a perfect shift +0.4%), and with a Rosenberg glottal source its worst "
    "case from +8.9% to +4.8% with no case over 5% (table 4); without any formant fit, PSOLA's +0.9 dB lift "
    "under F1 on upward shifts falls to +0.5 dB (table 6); Praat Burg, whose own error reaches 12.6% on a "
    "perfect shift, finds PSOLA over 5% in 1 case instead of 2, WORLD in 3 either way.",
    "   - *What it costs* (table 7). Periodicity: Praat's HNR on upward PSOLA shifts 18.1 dB instead of 19.2 "
    "(the original: 17.2), downward 16.5 instead of 16.6; WORLD within 0.6 dB. The 45 ms averaging is a "
    "measured trade-off: with 15 ms (and a 12 dB cap), upward PSOLA shifts lost 2.6 dB of HNR (best F1 worst case 1.2%); with "
    "75 ms or more the gain lags formant transitions and the worst case grows to 3.6-5.3%. Level: upward "
    "PSOLA shifts 0.7 dB quieter than before, downward ones unchanged. Time: about 0.1 s "
    "per 1.4 s clip.",
    "   - *Partly the measurement, still.* A perfect shift with a Rosenberg source reads up to +6.5% (table 4, "
    '"ideal"), and single frames on real speech scatter by 5-20% (table 5), so the 5% gate keeps needing a '
    "median over many frames (`MIN_FRAMES`). Measurement rules tried and rejected earlier: requiring the "
    "formant to be resolved in the shifted signal too (five other cases failed), an order-12 fit (perfect "
    "shifts read up to -8%).",
    "4. **Tried and rejected.** A 2-pole glottal-source stage before the fit (IAIF-like) made every real "
    "case pass but lost F1 on the synthetic truth (frame errors 6-54%): it measured something else. A "
    "speaker-adapted ceiling chosen by track smoothness picked wrong ceilings on synthetic tracts. Pooling "
    "harmonics over neighbouring frames, median-filtering tracks and equal window lengths for both signals "
    "changed nothing. A fixed number of fit iterations made the result depend on that number, so the fit "
    "now runs to convergence. For the restoration: each shifted harmonic scaled straight to the original's "
    "envelope (instead of a ratio of two smooth envelopes) pushed Front_Right +7 to -7.0%, because the "
    "per-harmonic gains follow PSOLA's ripple and gliding harmonics pick up their neighbours' gains.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/formants.md")
    args = ap.parse_args()
    t0 = time.time()
    ideal = table_ideal()
    engines = table_engines()
    real, over = table_real()
    glottal = table_glottal()
    frames = table_frames()
    envelope = table_envelope()
    pulses = pulse_check()
    quality = table_quality()
    text = [
        "# Formants kept by the pitch shift: how they are measured, what moved them, how they are kept",
        "",
        f"- command: `python benchmarks/{Path(__file__).name}` ({time.time() - t0:.0f} s)",
        "- the why and the method: `src/ltxvoice/dsp/formants.py` (module and `formant_change` docstrings)",
        "",
        "## Findings",
        "",
        *FINDINGS,
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
        "## 3. Real recordings: Praat Burg (the measurement before 87a5436) and `select.judge`, each variant",
        "",
        "Burg is the independent check here: the envelope restoration is built on the same all-pole fit that "
        "`select` measures with, Burg is not. Cases over 5% (bold), of 32 alsa and 24 espeak per variant:",
        "",
        "| variant | alsa: Burg | alsa: select | espeak: Burg | espeak: select |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {v} | {over[(v, 'alsa burg')]} | {over[(v, 'alsa select')]} | {over[(v, 'espeak burg')]} | "
            f"{over[(v, 'espeak select')]} |"
            for v in VARIANTS
        ],
        "",
        *real,
        "",
        "## 4. A realistic glottal source: tables 1 and 2 with a Rosenberg pulse",
        "",
        "`rosenberg_vowel` in the benchmark: the same intonation and five-resonator filter as table 1, driven by "
        "a Rosenberg glottal flow derivative (open quotient 0.6, speed quotient 2.5); F0 120/170/220 Hz, formants "
        'x0.9 and x1.1, shifts -7/-3/+3/+7. "ideal" re-synthesises the utterance with only the source F0 moved. '
        "Per case: the F1 change as `select` measures it; over all counted frames: each signal's F1 against the "
        "filter's.",
        "",
        *glottal,
        "",
        "## 5. The two alsa cases over 5% without the restoration, frame by frame",
        "",
        "Every frame the F1 comparison counts (voiced in the original and in every variant's shift, off voicing "
        "edges, original F1 >= 2 x F0), each variant measured at the same frames.",
        "",
        *frames,
        "",
        "The PSOLA Manipulation's pulses on these two recordings, against its own pitch tier:",
        "",
        *pulses,
        "",
        "## 6. The shifted harmonics against the original's envelope, no formant fit",
        "",
        "All 8 alsa recordings, shifts +-3/+-7, frames voiced in both: each shifted harmonic's level minus the "
        "original's harmonic levels interpolated in dB at its frequency, each frame's offset removed by the median "
        "over 1-3 kHz; the median per band. (Linear interpolation between the original's harmonics is itself "
        "only an estimate of the envelope, which is why both engines read ~+1.7 dB at the first harmonic of an "
        "upward shift; the difference between the engines is the point.)",
        "",
        *envelope,
        "",
        "## 7. What the restoration costs: periodicity and level",
        "",
        "All 8 alsa recordings, shifts +-3/+-7: Praat's cross-correlation harmonics-to-noise ratio (75 Hz floor; "
        "median over the frames it reports) and the RMS level against the original. A spectral gain that "
        "changed from frame to frame faster than the formants do would show up here as lost periodicity.",
        "",
        *quality,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
