"""A tiny random-weight MelBand Roformer in the file layout audio-separator loads.

audio-separator ships ``vocals_mel_band_roformer.ckpt`` + ``vocals_mel_band_roformer.yaml`` (Kimberley
Jensen's vocal model) in its bundled model list. :func:`write_tiny_melband_roformer` writes files of the
same names and structure -- a raw ``state_dict`` and a four-section YAML -- with only the network sizes
shrunk, so ``Separator.load_model`` and ``Separator.separate`` run their real code path offline on it.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import yaml

# Separator.list_supported_model_files fetches UVR's download_checks.json unless the file exists in
# model_file_dir, then indexes exactly these seven lists. Empty lists leave only audio-separator's own
# bundled models.json, which is where vocals_mel_band_roformer.ckpt -> .yaml is listed.
_DOWNLOAD_LISTS = (
    "vr_download_list",
    "mdx_download_list",
    "mdx_download_vip_list",
    "demucs_download_list",
    "mdx23c_download_list",
    "mdx23c_download_vip_list",
    "roformer_download_list",
)

# The real vocals_mel_band_roformer.yaml, key for key and in its order. Only the network sizes differ
# (real: dim 384, depth 6, num_bands 60, heads 8, dim_head 64). STFT, sample-rate, stem and inference
# settings are the real ones, because they fix the band layout and the chunking audio-separator does.
_CONFIG: dict[str, Any] = {
    # The Roformer path reads only audio.hop_length, as a fallback for a missing model.stft_hop_length.
    "audio": {
        "chunk_size": 352800,
        "dim_f": 1024,
        "dim_t": 256,
        "hop_length": 441,
        "n_fft": 2048,
        "num_channels": 2,
        "sample_rate": 44100,
        "min_mean_abs": 0.001,
    },
    # Constructor arguments of MelBandRoformer. num_bands marks the config as MelBand (vs freqs_per_bands
    # for BS-Roformer); audio-separator's validator requires num_bands >= 8.
    "model": {
        "dim": 16,
        "depth": 1,
        "stereo": True,
        "num_stems": 1,
        "time_transformer_depth": 1,
        "freq_transformer_depth": 1,
        "num_bands": 8,
        "dim_head": 8,
        "heads": 2,
        "attn_dropout": 0,
        "ff_dropout": 0,
        "flash_attn": True,
        "dim_freqs_in": 1025,
        "sample_rate": 44100,
        "stft_n_fft": 2048,
        "stft_hop_length": 441,
        "stft_win_length": 2048,
        "stft_normalized": False,
        "mask_estimator_depth": 2,
        "multi_stft_resolution_loss_weight": 1.0,
        # A tuple, written as !!python/tuple like the real file: the constructor is beartype-checked
        # against Tuple[int, ...], so a YAML list would be rejected.
        "multi_stft_resolutions_window_sizes": (4096, 2048, 1024, 512, 256),
        "multi_stft_hop_size": 147,
        "multi_stft_normalized": False,
    },
    # instruments[0] is the primary stem; target_instrument makes it a single-target model, so the
    # second stem ("other") is the mix minus the prediction.
    "training": {"instruments": ["vocals", "other"], "target_instrument": "vocals"},
    # dim_t * stft_hop_length sets the chunk (clips under 10 s use mdxc_params.segment_size instead).
    "inference": {"dim_t": 1101, "num_overlap": 1, "chunk_size": 352800},
}


def tiny_melband_config() -> dict[str, Any]:
    """Return a copy of the tiny config written as ``<model_name>.yaml``."""
    return copy.deepcopy(_CONFIG)


def ensure_offline_checks(model_dir: Path) -> Path:
    """Write an empty ``download_checks.json`` into ``model_dir`` unless one exists; return its path.

    With it present, ``Separator.load_model`` makes no network request for models whose files are
    already in ``model_dir``. An existing file (for instance the real UVR list) is never overwritten.
    """
    path = Path(model_dir) / "download_checks.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({name: {} for name in _DOWNLOAD_LISTS}, indent=2) + "\n", encoding="utf-8")
    return path


def write_tiny_melband_roformer(
    model_dir: Path, *, seed: int = 0, model_name: str = "vocals_mel_band_roformer"
) -> Path:
    """Write ``<model_name>.ckpt``, ``<model_name>.yaml`` and ``download_checks.json``; return the ckpt.

    The weights are PyTorch's default initialisation of audio-separator's own ``MelBandRoformer``
    class under ``torch.manual_seed(seed)`` (the caller's RNG state is left untouched), so the state
    dict keys and shapes are what its loader expects, and the same seed gives byte-identical files.
    """
    import torch  # heavy imports stay local: importing ltxvoice.models must not load torch

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config = tiny_melband_config()

    # Silences two harmless third-party warnings: rotary_embedding_torch's FutureWarning at import and
    # torch.stft's "window was not provided" from the constructor's frequency-count probe.
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")
        from audio_separator.separator.uvr_lib_v5.roformer.mel_band_roformer import MelBandRoformer

        torch.manual_seed(seed)
        # The same call as audio-separator's legacy loader and the training code: the model section
        # passed as keyword arguments.
        model = MelBandRoformer(**config["model"])
    state = model.state_dict()
    bad = [key for key, value in state.items() if not torch.isfinite(value).all()]
    if bad:
        raise RuntimeError(f"non-finite weights after initialisation: {bad}")

    # The real checkpoint is a bare float32 state_dict (loaders also accept {"state_dict": ...}).
    # Saving through a buffer gives the zip archive the fixed root name "archive" instead of one
    # derived from the file name, so the bytes depend on the seed alone.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    ckpt = model_dir / f"{model_name}.ckpt"
    ckpt.write_bytes(buffer.getvalue())

    # yaml.dump (not safe_dump) writes the tuple as !!python/tuple; audio-separator reads the file
    # with yaml.FullLoader, which accepts that tag.
    text = yaml.dump(config, sort_keys=False, default_flow_style=False)
    (model_dir / f"{model_name}.yaml").write_text(text, encoding="utf-8")

    ensure_offline_checks(model_dir)
    return ckpt
