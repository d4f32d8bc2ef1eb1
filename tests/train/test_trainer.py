"""The training run on the tiny LTX-2.3 checkpoint: learning, resume, checkpoints, curves, failure."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from ltxvoice.config import TrainParams
from tests.train.conftest import make_items, train_params, write_items

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("strategy", "preset", "first_frame_p"),
    [("audio_reference", "helium", 0.0), ("text_to_av", "register", 0.0), ("text_to_av", "talking_head", 0.5)],
)
def test_each_strategy_fits_a_fixed_batch(
    tiny_checkpoint: Path, strategy: str, preset: str, first_frame_p: float
) -> None:
    from ltxvoice.models.ltx import load_text_connectors, load_transformer
    from ltxvoice.train.data import TextCache
    from ltxvoice.train.engine import forward_loss
    from ltxvoice.train.lora import lora_parameters
    from ltxvoice.train.optim import make_optimizer
    from ltxvoice.train.trainer import engine_options, prepare_model

    params = train_params(
        strategy=strategy,
        preset=preset,
        first_frame_p=first_frame_p,
        rank=8,
        alpha=8.0,
        mixed_precision="no",
        optimizer="adamw",
    )
    prepared = prepare_model(load_transformer(tiny_checkpoint, "cpu", torch.bfloat16), params, "cpu")
    items = make_items(2, reference=strategy == "audio_reference")
    text = TextCache()
    text.fill(items, load_text_connectors(tiny_checkpoint, "cpu", torch.bfloat16).float(), "cpu", torch.float32)
    optimizer = make_optimizer(lora_parameters(prepared.model), "adamw", 1e-2, 0.0)
    losses = []
    for _ in range(8):
        generator = torch.Generator().manual_seed(0)  # the same sigma, noise and first-frame draws every step
        loss = forward_loss(prepared.model, items, text, engine_options(params), generator, "cpu").mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0], losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 6, losses


def _params(**kw: object) -> TrainParams:
    base = {
        "steps": 6,
        "batch_size": 2,
        "rank": 4,
        "alpha": 8.0,
        "optimizer": "adamw",
        "lr": 1e-3,
        "checkpoint_every": 2,
        "keep_last": 2,
        "dropout": 0.1,
        "warmup_steps": 1,
        "schedule": "cosine",
    }
    return train_params(**{**base, **kw})


@pytest.mark.parametrize("optimizer", ["adamw", "adamw8bit"])
def test_resume_repeats_the_uninterrupted_run(tiny_checkpoint: Path, tmp_path: Path, optimizer: str) -> None:
    from ltxvoice.models.lora_file import inspect_lora, transformer_weights
    from ltxvoice.train.trainer import train

    kw: dict[str, object] = {"optimizer": optimizer}
    if optimizer == "adamw8bit":
        pytest.importorskip("bitsandbytes")
        kw.update(rank=32, alpha=64.0)  # 32 x 128 adapters: big enough for bitsandbytes' 8-bit moments
    data = write_items(tmp_path / "encode", 5)
    whole = train(_params(**kw), data, tmp_path / "whole", checkpoint=tiny_checkpoint, progress=False)
    assert [c[0] for c in whole.curve] == [1, 2, 3, 4, 5, 6] and whole.start_step == 0
    assert sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir()) == [
        "state_000004.pt",
        "state_000006.pt",
        "step_000004.safetensors",
        "step_000006.safetensors",
    ]

    part = train(_params(**kw), data, tmp_path / "split", checkpoint=tiny_checkpoint, progress=False, stop_after=3)
    assert len(part.curve) == 3 and not part.lora.exists()
    rest = train(_params(**kw), data, tmp_path / "split", checkpoint=tiny_checkpoint, progress=False)
    assert rest.start_step == 2 and "resumed from step 2" in rest.resume_notes
    assert rest.curve == whole.curve  # same losses and learning rates, bit for bit
    assert rest.lora.read_bytes() == whole.lora.read_bytes()

    report = inspect_lora(whole.lora, transformer_weights(tiny_checkpoint))
    assert report.ok and report.unmatched == [] and report.tensors == 2 * 2 * 10
    assert report.ranks == [kw.get("rank", 4)]
    assert report.metadata["ltxvoice_strategy"]["reference_placement"] == "negative"
    assert report.metadata["ltxvoice_training"]["step"] == 6

    again = train(_params(**kw), data, tmp_path / "whole", checkpoint=tiny_checkpoint, progress=False)
    assert again.start_step == 6 and again.curve == whole.curve  # finished: nothing recomputed
    changed = train(
        _params(**kw, lr=2e-3, steps=2), data, tmp_path / "whole", checkpoint=tiny_checkpoint, progress=False
    )
    assert changed.start_step == 0 and any("another run" in n for n in changed.resume_notes)


def test_curves_and_plot(tmp_path: Path) -> None:
    from ltxvoice.train.trainer import plot_curves, write_curves

    curve = [(i + 1, 1.0 / (i + 1), 1e-4) for i in range(30)]
    rows = list(csv.DictReader(write_curves(curve, tmp_path / "curves.csv").open()))
    assert rows[0] == {"step": "1", "loss": "1", "lr": "0.0001"} and len(rows) == 30
    png = plot_curves(curve, tmp_path / "curves.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_divergence_stops_without_saving(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ltxvoice.train import engine, trainer

    real, calls = engine.flow_loss, []

    def blows_up_at_step_3(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(engine, "flow_loss", blows_up_at_step_3)
    data = write_items(tmp_path / "encode", 2)
    with pytest.raises(trainer.TrainingError, match="loss is nan at step 3"):
        trainer.train(_params(), data, tmp_path / "out", checkpoint=tiny_checkpoint, progress=False)
    assert not (tmp_path / "out" / "lora.safetensors").exists()
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == [
        "state_000002.pt",
        "step_000002.safetensors",
    ]


def test_no_usable_item_fails_loudly(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from ltxvoice.train.trainer import TrainingError, train

    data = write_items(tmp_path / "encode", 2, reference=False)  # helium needs reference latents
    with pytest.raises(TrainingError, match="no usable item.*2 quarantined"):
        train(_params(), data, tmp_path / "out", checkpoint=tiny_checkpoint, progress=False)
    assert make_items(1)[0].reference is not None
