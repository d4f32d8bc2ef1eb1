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
4. Tables 1 and 2 again with a Rosenberg glottal pulse (open quotient 0.6) instead of the fixture's
   smooth -6 dB/octave source: how far the measurement and the engines go with a realistic source.
5. The two alsa cases still over 5%, frame by frame: the original's and both engines' F1 at every
   frame the comparison counts.
6. Without any formant fit: each shifted harmonic's level against the original's harmonic levels
   interpolated (in dB) at its frequency, on all alsa recordings, by band and shift direction.
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
from ltxvoice.dsp.formants import formant_change, formant_tracks, harmonic_powers  # noqa: E402
from ltxvoice.dsp.pitch import adapted_range, praat_track  # noqa: E402
from ltxvoice.dsp.shifting import shift  # noqa: E402
from ltxvoice.measure import measure_samples  # noqa: E402
from ltxvoice.media import resample  # noqa: E402
from ltxvoice.select import judge  # noqa: E402
from scipy.signal import lfilter  # noqa: E402

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


def rosenberg_vowel(f0_hz: float, ratio: float = 1.0, formant_scale: float = 1.0, rate: int = 48000,
                    seconds: float = 1.4, open_quotient: float = 0.6, speed_quotient: float = 2.5) -> np.ndarray:
    """``fixtures.vowel``'s utterance (same intonation, same five-resonator filter) driven by a Rosenberg
    glottal flow derivative instead of filtered impulses: a source whose harmonics are not a smooth
    slope (h1 strong, spectral dips that move with F0), as in real phonation."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = f0_hz * ratio * (1.0 + 0.15 * np.sin(2 * np.pi * 0.8 * t))
    phase = np.cumsum(f0 / rate) % 1.0
    rise = open_quotient * speed_quotient / (1 + speed_quotient)
    fall = open_quotient / (1 + speed_quotient)
    flow = np.where(phase < rise, 0.5 * (1 - np.cos(np.pi * phase / rise)),
                    np.where(phase < rise + fall, np.cos(np.pi * (phase - rise) / (2 * fall)), 0.0))
    y = np.diff(flow, prepend=0.0) + 0.0002 * np.random.default_rng(0).standard_normal(n)
    block = int(0.005 * rate)
    for k, bw in enumerate(fixtures.VOWEL_BANDWIDTHS):
        out, state = np.zeros(n), np.zeros(2)
        r = np.exp(-np.pi * bw / rate)
        for s in range(0, n, block):
            c = 2 * r * np.cos(2 * np.pi * formant_scale * fixtures.vowel_formants(t[s])[k] / rate)
            out[s:s + block], state = lfilter([1 - c + r * r], [1.0, -c, r * r], y[s:s + block], zi=state)
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
                for engine in ("ideal", "psola", "world"):
                    y48 = rosenberg_vowel(f0, r, scale) if engine == "ideal" else shift(x48, 48000, s, engine, lo, hi)  # type: ignore[arg-type]
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
                    truth_err.setdefault(("original", "-"), []).extend((a[ok] / truth[ok] - 1).tolist() if engine == "ideal" else [])
    lines = ["| signal | shifts | cases | F1 change: mean | F1 change: worst | cases over 5% | median F1 vs true F1 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key in sorted(cases):
        v = np.array(cases[key])
        lines.append(f"| {key[0]} | {key[1]} | {v.size} | {pct(float(v.mean()))} | {pct(float(v[np.argmax(np.abs(v))]))} | "
                     f"{int((np.abs(v) > 0.05).sum())} | {pct(float(np.median(truth_err[key])))} |")
    lines.append(f"| original | - | | | | | {pct(float(np.median(truth_err[('original', '-')])))} |")
    return lines


FRAME_CASES = (("Rear_Left", 3), ("Rear_Right", 7))


def table_frames() -> list[str]:
    """F1 frame by frame at the frames the F1 comparison counts, for the two cases still over 5%."""
    params = MeasureParams()
    lines = ["| recording | st | t (s) | F0 (Hz) | shifted F0 | F1 original | F1 psola | F1 world | psola | world |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in FRAME_CASES:
        x, rate = sf.read(fixtures.ALSA_DIR / f"{name}.wav", dtype="float32")
        m = measure_samples(x, rate, params)
        lo, hi = adapted_range(m.f0_hz, params.floor_hz, params.ceiling_hz)
        target_range = adapted_range(m.f0_hz * 2 ** (s / 12), params.floor_hz, params.ceiling_hz)
        before = praat_track(resample(x, rate, params.pitch_rate), params.pitch_rate, params.floor_hz, params.ceiling_hz)
        xa = resample(x, rate, params.analysis_rate)
        f1, voiced = {}, before.voiced.copy()
        shifted_f0 = {}
        for engine in ("psola", "world"):
            y = shift(x, rate, s, engine, lo, hi)  # type: ignore[arg-type]
            after = praat_track(resample(y, rate, params.pitch_rate), params.pitch_rate, *target_range)
            voiced &= after.voiced_at(before.times)
            f1[engine] = formant_tracks(resample(y, rate, params.analysis_rate), params.analysis_rate, after,
                                        params.max_formant_hz, before.times)[0]
            shifted_f0[engine] = after.f0_at(before.times)
        inner = voiced & np.r_[False, voiced[:-1]] & np.r_[voiced[1:], False]
        a = formant_tracks(xa, params.analysis_rate, before, params.max_formant_hz, before.times)[0]
        counted = inner & np.isfinite(a) & (a >= 2 * before.f0) & np.isfinite(f1["psola"]) & np.isfinite(f1["world"])
        for i in np.nonzero(counted)[0]:
            lines.append(f"| {name} | {s:+d} | {before.times[i]:.3f} | {before.f0[i]:.0f} | {shifted_f0['psola'][i]:.0f} | "
                         f"{a[i]:.0f} | {f1['psola'][i]:.0f} | {f1['world'][i]:.0f} | {pct(f1['psola'][i] / a[i] - 1)} | "
                         f"{pct(f1['world'][i] / a[i] - 1)} |")
        ps, ws = f1["psola"][counted] / a[counted] - 1, f1["world"][counted] / a[counted] - 1
        lines.append(f"| {name} | {s:+d} | **median** | | | | | | **{pct(float(np.median(ps)))}** | **{pct(float(np.median(ws)))}** |")
    return lines


def pulse_check() -> list[str]:
    """Where the PSOLA Manipulation's glottal pulses disagree (> 8%) with its own pitch tier, for the two
    recordings of table 5, with the range the stage gives it."""
    from parselmouth.praat import call

    params = MeasureParams()
    lines = []
    for name, _ in FRAME_CASES:
        x, rate = sf.read(fixtures.ALSA_DIR / f"{name}.wav", dtype="float64")
        lo, hi = adapted_range(measure_samples(x.astype(np.float32), rate, params).f0_hz, params.floor_hz, params.ceiling_hz)
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
        lines.append(f"- {name}: {t.size} pulses, {int(inside.sum())} periods inside voiced stretches, "
                     f"{int(off.sum())} off the pitch tier by more than 8%, at "
                     + ", ".join(f"{t[i]:.3f} s ({100 * (ratio[i] - 1):+.0f}%)" for i in np.nonzero(off)[0])
                     + "; voiced stretches start at " + ", ".join(f"{t[i]:.3f} s" for i in np.nonzero(starts & inside)[0]))
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
        before = praat_track(resample(x, rate, params.pitch_rate), params.pitch_rate, params.floor_hz, params.ceiling_hz)
        xa = resample(x, rate, params.analysis_rate)
        for engine in ("psola", "world"):
            for s in SHIFTS:
                y = shift(x, rate, s, engine, lo, hi)  # type: ignore[arg-type]
                after = praat_track(resample(y, rate, params.pitch_rate), params.pitch_rate,
                                    *adapted_range(m.f0_hz * 2 ** (s / 12), params.floor_hz, params.ceiling_hz))
                both = before.voiced & after.voiced_at(before.times)
                t = before.times[both & np.r_[False, both[:-1]] & np.r_[both[1:], False]]
                fa, pa, oka = harmonic_powers(xa, params.analysis_rate, t, before.f0_at(t), params.max_formant_hz)
                fb, pb, okb = harmonic_powers(resample(y, rate, params.analysis_rate), params.analysis_rate, t,
                                              after.f0_at(t), params.max_formant_hz)
                for i in np.nonzero(oka & okb)[0]:
                    ma, mb = pa[i] > 0, pb[i] > 0
                    d = 10 * np.log10(pb[i, mb]) - np.interp(fb[i, mb], fa[i, ma], 10 * np.log10(pa[i, ma]))
                    f = fb[i, mb]
                    d -= np.median(d[(f > 1000) & (f < 3000)])
                    for j, (b0, b1) in enumerate(bands):
                        dev.setdefault((engine, "up" if s > 0 else "down", j), []).extend(d[(f >= b0) & (f < b1)].tolist())
    lines = ["| engine | shifts | " + " | ".join(f"{b0}-{b1} Hz" for b0, b1 in bands) + " |", "|---|---|---:|---:|---:|"]
    for engine in ("psola", "world"):
        for direction in ("down", "up"):
            cells = " | ".join(f"{np.median(dev[(engine, direction, j)]):+.1f} dB" for j in range(len(bands)))
            lines.append(f"| {engine} | {direction} | {cells} |")
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
    glottal = table_glottal()
    frames = table_frames()
    envelope = table_envelope()
    pulses = pulse_check()
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
        "3. **What remains: two upward PSOLA shifts read F1 -5.8% and -7.1% (Rear_Left +3, Rear_Right +7).** "
        "They were examined frame by frame (table 5) and the cause is partly the engine, partly the "
        "measurement's scatter; no principled setting of Praat's PSOLA removes it, so the 5% criterion is kept "
        "and the two stay marked as known failures in `tests/dsp/test_shifting.py`, not excluded. The evidence:",
        "   - *Not the pulses.* The Manipulation's glottal pulses (range 60-600 Hz, as the stage runs it) follow its "
        "pitch tier within 8% everywhere but at voicing onsets and offsets (the first 1-4 pulses of a voiced stretch, "
        "one final pulse): no octave errors, no missing pulses inside the vowels.",
        "   - *Partly the engine.* At the same frames, with the same measurement of the same original, PSOLA reads "
        "F1 below WORLD in two clusters: Rear_Right 0.31-0.42 s (F1 ~450 Hz at F0 ~167 Hz, F2 ~600-700 Hz: PSOLA "
        "-5 to -35%, WORLD -2 to -8%) and Rear_Left 0.89-0.92 s (F1 ~700-850 Hz at F0 ~250 Hz: PSOLA -9 to -20%, "
        "WORLD 0 to +8%); in Rear_Left's other cluster (0.26-0.33 s, F1 ~370 Hz at F0 ~163 Hz) both read -5 to -14%, WORLD lower than PSOLA. Without any formant fit (table 6), PSOLA's upward shifts put the 300-600 Hz harmonics "
        "+0.9 dB above the original's envelope where WORLD's are -0.7 dB: Praat's overlap-add uses grains two "
        "source periods long, whose window smears the envelope by about +-F0 of the source; next to a strong "
        "first harmonic that lifts the region under F1, and the fitted F1 drops. Praat offers no other grain "
        "length; the settings it does offer do not help: a speaker-adapted Manipulation range (0.5-2x the clip's "
        "median F0) moved Rear_Right +7 to -7.6% and Rear_Left +3 to -5.2% and pushed Rear_Center -3 to +6.0%; "
        "a 5 ms Manipulation time step gave -8.8%, -4.7% and +6.1% (measured with those variants of "
        "`shift_psola`, not kept).",
        "   - *Partly the measurement.* Table 1's ~1.5% bound holds for the fixture's smooth -6 dB/octave source. "
        "With a Rosenberg glottal pulse (table 4: strong first harmonic, dips that move with F0, as in real "
        "phonation) the same measurement on a perfect shift reads per-case changes up to +6.5%, and PSOLA's up to "
        "+8.9%; against the true F1, both engines sit ~1.6% below a perfect shift's F1 on upward shifts and ~1.5% above it on downward ones (a perfect shift moves the glottal pulse with F0; the engines keep its spectrum where it was). On real "
        "speech both engines share a direction-dependent offset (upward shifts read on average -1.6% PSOLA, "
        "-1.8% WORLD; downward +2%), and 24-50 frames per 1.4 s recording with single frames off by 5-20% "
        "(gross pole swaps at +-50-90% in either signal, table 5) leave each median a few percent of noise.",
        "   - *Measurement rules tried and rejected.* Requiring the formant to be resolved in the shifted signal "
        "too (F1 >= 2 x the shifted F0) passes the two cases but makes five others fail (down to 10 frames, "
        "Rear_Center +7 at -13%); an order-12 fit (one extra pole pair for the glottal source), with or without a "
        "bandwidth limit, made both the fixture's and the Rosenberg source's perfect shifts worse (up to -8%).",
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
        "## 4. A realistic glottal source: tables 1 and 2 with a Rosenberg pulse",
        "",
        "`rosenberg_vowel` in the benchmark: the same intonation and five-resonator filter as table 1, driven by "
        "a Rosenberg glottal flow derivative (open quotient 0.6, speed quotient 2.5); F0 120/170/220 Hz, formants "
        "x0.9 and x1.1, shifts -7/-3/+3/+7. \"ideal\" re-synthesises the utterance with only the source F0 moved. "
        "Per case: the F1 change as `select` measures it; over all counted frames: each signal's F1 against the "
        "filter's.",
        "",
        *glottal,
        "",
        "## 5. The two alsa cases over 5%, frame by frame",
        "",
        "Every frame the F1 comparison counts (voiced in the original and in the shift, off voicing edges, "
        "original F1 >= 2 x F0), with WORLD's output measured at the same frames for comparison.",
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
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
