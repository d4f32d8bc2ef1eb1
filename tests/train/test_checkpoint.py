"""Resume states: RNG round trip, and a hostile state file never runs code when it is looked at."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from ltxvoice.train import checkpoint as ckpt


class _Payload:
    """Unpickling this object creates a file: the proof that loading ran code named by the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return (os.open, (str(self.marker), os.O_CREAT | os.O_WRONLY))


def test_rng_states_round_trip_and_load_with_weights_only(tmp_path: Path) -> None:
    random.seed(3)
    np.random.seed(4)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's legacy state
    torch.manual_seed(5)
    states = ckpt.rng_states()
    expected = (random.random(), np.random.standard_normal(), np.random.random(), torch.rand(3))

    state = ckpt.ResumeState(7, "fp", {"a": torch.ones(2)}, {"state": {}}, {"last_epoch": 7}, states, [(1, 0.5, 1e-3)])
    ckpt.save_state(tmp_path, state)
    loaded, skipped = ckpt.load_latest(tmp_path, "fp")
    assert skipped == [] and loaded is not None and loaded.step == 7

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    ckpt.set_rng_states(loaded.rng)
    random.seed(3)  # the trainer seeds Python's generator at every micro-step; it is not saved
    again = (random.random(), np.random.standard_normal(), np.random.random(), torch.rand(3))
    assert again[:3] == expected[:3] and torch.equal(again[3], expected[3])


def test_a_draw_from_pythons_generator_elsewhere_does_not_change_the_state_file(tmp_path: Path) -> None:
    """Prefect's client draws its jitter from Python's global generator in its own threads; the same
    (seed, step) must still give the same state file, byte for byte."""
    written = []
    for other_threads_draw in (False, True):
        random.seed(1)
        np.random.seed(2)
        torch.manual_seed(3)
        if other_threads_draw:
            random.random()
        out = tmp_path / str(other_threads_draw)
        state = ckpt.ResumeState(3, "fp", {"a": torch.ones(2)}, None, {}, ckpt.rng_states(), [])
        written.append(ckpt.save_state(out, state).read_bytes())
    assert written[0] == written[1]


def test_a_planted_pickle_is_skipped_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    good = ckpt.ResumeState(2, "fp", {}, None, {}, ckpt.rng_states(), [])
    ckpt.save_state(tmp_path / "ckpt", good)
    # newer than the good state, so it is the first one looked at
    hostile = ckpt.state_path(tmp_path / "ckpt", 40)
    hostile.write_bytes(pickle.dumps({"step": 40, "fingerprint": "fp", "x": _Payload(marker)}))

    loaded, skipped = ckpt.load_latest(tmp_path / "ckpt", "fp")
    assert not marker.exists(), "loading a state file ran code from it"
    assert loaded is not None and loaded.step == 2
    assert len(skipped) == 1 and skipped[0].startswith("state_000040.pt: unreadable or not a plain state file")
