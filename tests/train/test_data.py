"""Precomputed items in the official trainer's format, quarantine, data order and the text cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxvoice.train.data import (
    AUDIO_DIR,
    CONDITIONS_DIR,
    REFERENCE_DIR,
    VIDEO_DIR,
    DataOrder,
    ItemError,
    check_enough,
    dataset_fingerprint,
    load_items,
    read_item,
)
from tests.train.conftest import make_items, write_items


def test_roundtrip_in_the_official_layout(tmp_path: Path) -> None:
    write_items(tmp_path, 2)
    raw = torch.load(tmp_path / VIDEO_DIR / "clip00.pt", weights_only=True)
    assert set(raw) == {"latents", "num_frames", "height", "width", "fps"} and raw["latents"].shape == (128, 2, 2, 2)
    assert set(torch.load(tmp_path / CONDITIONS_DIR / "clip00.pt", weights_only=True)) == {
        "video_prompt_embeds",
        "audio_prompt_embeds",
        "prompt_attention_mask",
    }
    item = read_item(tmp_path, "clip01", with_reference=True)
    original = make_items(2)[1]
    assert torch.equal(item.video, original.video) and torch.equal(item.reference, original.reference)
    assert item.fps == 25.0 and item.text_mask.dtype == torch.bool
    assert read_item(tmp_path, "clip01", with_reference=False).reference is None


def test_bad_items_are_quarantined_with_reasons(tmp_path: Path) -> None:
    write_items(tmp_path, 6)
    (tmp_path / REFERENCE_DIR / "clip01.pt").unlink()
    (tmp_path / AUDIO_DIR / "clip02.pt").write_bytes(b"not a torch file")
    bad = torch.load(tmp_path / VIDEO_DIR / "clip03.pt", weights_only=True)
    bad["latents"][0, 0, 0, 0] = float("nan")
    torch.save(bad, tmp_path / VIDEO_DIR / "clip03.pt")
    odd = make_items(1, seed=40, audio_steps=13)[0]
    from ltxvoice.train.data import write_item

    write_item(tmp_path, odd.__class__(**{**odd.__dict__, "clip_id": "clip04"}))
    items, quarantined = load_items(tmp_path, with_reference=True)
    assert [i.clip_id for i in items] == ["clip00", "clip05"]
    reasons = {q.item_id: q.reason for q in quarantined}
    assert reasons == {
        "clip01": "missing_file",
        "clip02": "unreadable",
        "clip03": "nonfinite",
        "clip04": "shape_mismatch",
    }
    assert all(q.detail and q.stage == "train" for q in quarantined)
    items_no_ref, _ = load_items(tmp_path, with_reference=False)
    assert "clip01" in [i.clip_id for i in items_no_ref]


def test_missing_folder_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="latents"):
        load_items(tmp_path / "nothing", with_reference=False)
    write_items(tmp_path, 1)
    torch.save({"latents": torch.zeros(128, 2, 2)}, tmp_path / VIDEO_DIR / "clip00.pt")
    with pytest.raises(ItemError, match="4-D") as err:
        read_item(tmp_path, "clip00", with_reference=False)
    assert err.value.reason == "bad_shape"


def test_data_order_is_a_function_of_seed_and_step() -> None:
    order = DataOrder(num_items=10, batch_size=3, world_size=2, seed=7)
    first_epoch = [i for s in range(1) for r in range(2) for i in order.indices(s, r)]
    assert len(set(first_epoch)) == 6
    stream = [i for s in range(10) for r in range(2) for i in order.indices(s, r)]
    for start in range(0, 60, 10):  # every epoch is a permutation of all items
        assert sorted(stream[start : start + 10]) == list(range(10))
    again = DataOrder(num_items=10, batch_size=3, world_size=2, seed=7)
    assert [again.indices(s, 1) for s in range(5, 8)] == [order.indices(s, 1) for s in range(5, 8)]
    assert order.indices(0, 0) != DataOrder(10, 3, 2, seed=8).indices(0, 0)
    accum = DataOrder(num_items=10, batch_size=1, world_size=1, seed=7)
    assert [accum.indices(1, 0, m, 2) for m in range(2)] == [accum.indices(s, 0) for s in (2, 3)]
    with pytest.raises(ValueError, match="a step needs 6"):
        check_enough(make_items(5, reference=False), order, Path("data/encode"))


def test_fingerprint_changes_with_content() -> None:
    items = make_items(2)
    assert dataset_fingerprint(items) == dataset_fingerprint(make_items(2))
    assert dataset_fingerprint(items) != dataset_fingerprint(make_items(2, seed=1))
