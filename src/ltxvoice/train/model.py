"""The parts of LTX-2.3 that LoRA training needs, loaded through ltx-core 1.0.0.

Training uses the transformer (``LTXModel``) and the two text connectors of the embeddings
processor (the precomputed ``conditions/`` hold the Gemma features *before* the connectors, as in
the official trainer's format). The Gemma feature extractor (a ~1.2B-parameter projection) is not
needed and is never loaded.

How ltx-core's transformer is driven (facts from ``ltx_core.model.transformer``):

- ``LTXModel.forward(video: Modality, audio: Modality, perturbations=None)`` returns the predicted
  velocities ``(video [B, Tv, 128], audio [B, Ta, 128])`` for patchified tokens.
- ``Modality(latent [B, T, 128], sigma [B], timesteps [B, T] or [B, 1], positions, context
  [B, L, D], context_mask)``: per-token timesteps let some tokens be clean (0) while others are noisy;
  ``positions`` are ``[B, 3, T, 2]`` (time in seconds, pixel y, pixel x; start/end bounds) for video and
  ``[B, 1, T, 2]`` (seconds) for audio, as built by ltx-core's patchifiers.
- Blocks run in ``LTXModel._process_transformer_blocks``; :mod:`ltxvoice.train.memory` replaces that
  loop per instance for selective checkpointing and block offload.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ltxvoice.models.ltx import load_ltx_components, tiny_ltx_config
from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

# The transformer of LTX-2.3 22B: 48 blocks, video 32 heads x 128, audio 32 heads x 64.
LTX23_TRANSFORMER_DIMS: dict[str, Any] = {
    "num_layers": 48,
    "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048,
    "connector_num_layers": 8, "connector_num_attention_heads": 32, "connector_attention_head_dim": 128,
    "audio_connector_num_attention_heads": 32, "audio_connector_attention_head_dim": 64,
}


def ltx23_config() -> dict[str, Any]:
    """The ``config`` metadata of a full-size LTX-2.3 checkpoint's transformer section.

    Every structural switch is the tiny model's (which copies LTX-2.3's); only the sizes above differ.
    Used to build the real architecture on the meta device (benchmarks, ``lora inspect`` without a
    checkpoint)."""
    config = copy.deepcopy(tiny_ltx_config())
    config["transformer"].update(LTX23_TRANSFORMER_DIMS)
    return config


def build_transformer(config: dict[str, Any], device: str = "meta") -> Any:
    """An ``LTXModel`` built from ``config`` by ltx-core's configurator (weights uninitialised)."""
    import torch

    ensure_torchaudio_importable()
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    with torch.device(device):
        return LTXModelConfigurator.from_config(config)


def load_transformer(checkpoint: Path, device: str, dtype: Any) -> Any:
    """The transformer of a unified LTX-2.3 checkpoint (fails on missing tensors)."""
    return load_ltx_components(Path(checkpoint), device=device, components=("transformer",), dtype=dtype)["transformer"]


def load_text_connectors(checkpoint: Path, device: str, dtype: Any) -> Any:
    """The embeddings processor with its video and audio connectors only (no Gemma feature extractor).

    Raises ValueError naming the file when a connector tensor is missing."""
    import torch

    ensure_torchaudio_importable()
    from ltx_core.loader import SDOps, SingleGPUModelBuilder
    from ltx_core.text_encoders.gemma import EmbeddingsProcessorConfigurator

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"LTX checkpoint not found: {checkpoint}")
    ops = SDOps("LTXVOICE_CONNECTORS_ONLY")
    for side in ("video", "audio"):
        src = f"model.diffusion_model.{side}_embeddings_connector."
        ops = ops.with_matching(prefix=src).with_replacement(src, f"{side}_connector.")
    builder = SingleGPUModelBuilder(model_class_configurator=EmbeddingsProcessorConfigurator,
                                    model_path=str(checkpoint), model_sd_ops=ops)
    config = builder.model_config()
    meta = builder.meta_model(config, ())
    meta.feature_extractor = None
    state = builder.load_sd([str(checkpoint)], registry=builder.registry, device=torch.device(device), sd_ops=ops)
    sd = {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in state.sd.items()}
    meta.load_state_dict(sd, strict=False, assign=True)
    missing = [n for n, t in [*meta.named_parameters(), *meta.named_buffers()] if t.is_meta]
    if missing:
        raise ValueError(f"{checkpoint}: text connectors are missing {len(missing)} tensor(s): {', '.join(missing[:5])}")
    return meta.to(torch.device(device)).eval().requires_grad_(False)


def unwrap(model: Any) -> Any:
    """The ``LTXModel`` inside DDP/FSDP/compile/peft wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "module") and not hasattr(model, "transformer_blocks"):
            model = model.module  # DDP / FSDP
            continue
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
            continue
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()  # peft
            continue
        break
    return model


def checkpoint_tensor_shapes(checkpoint: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor key of a safetensors file with its shape, read from the header only (fast on 40 GB)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    with safe_open(str(checkpoint), framework="pt") as f:
        for key in f.keys():
            shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes
