"""LTX-2.3 model layer on top of ``ltx-core`` 1.0.0.

Real LTX-2.3 checkpoints (``ltx-2.3-22b-*.safetensors``) are ONE safetensors
file whose metadata holds ``{"config": json}`` with the sections
``transformer`` / ``vae`` / ``audio_vae`` / ``vocoder`` and whose tensor keys
are prefixed ``model.diffusion_model.`` (transformer + text connectors),
``vae.`` (video VAE), ``audio_vae.``, ``vocoder.`` (vocoder + BWE) and
``text_embedding_projection.`` (Gemma feature -> video/audio projection).

Weights cannot be downloaded here, so :func:`write_tiny_ltx_checkpoint` writes
a tiny random-weight file in exactly that layout and :func:`load_ltx_components`
loads it through ltx-core's own ``SingleGPUModelBuilder`` - the same code path
used for the real file - after :func:`checkpoint_config` has checked the file
(ltx-core itself builds from defaults when the config is missing and only warns
when weights are). The text projection reads Gemma hidden states, so it is
sized for a Gemma folder (:mod:`ltxvoice.models.gemma`); :func:`ltx23_config`
holds the real sizes, to build the full architecture on the meta device.

Every stage loads LTX-2.3 through this module: the encode stage its VAE encoders and text path,
training the transformer (:func:`load_transformer`) and the text connectors alone
(:func:`load_text_connectors`, :func:`run_text_connectors`), the evaluation the transformer with a
LoRA fused by ltx-core's builder, the text path, the audio decoder and the vocoder.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

COMPONENTS: tuple[str, ...] = (
    "transformer", "video_encoder", "video_decoder", "audio_encoder",
    "audio_decoder", "vocoder", "embeddings_processor",
)


def tiny_ltx_config() -> dict[str, Any]:
    """Config metadata of an LTX-2.3 unified checkpoint, shrunk to toy sizes.

    Keys/nesting are those read by ltx-core's configurators; every structural
    switch matches LTX-2.3 (gated attention, cross-attention AdaLN, split
    float64 RoPE, V2 text projection before the connectors, AMP1/snakebeta
    vocoder + 16->48 kHz bandwidth extension). Only widths/depths shrink.
    """
    t = {  # real: 48 layers, video 32x128 (4096), audio 32x64 (2048)
        "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate",
        "attention_bias": True, "attention_type": "default", "dropout": 0.0,
        "double_self_attention": False, "norm_elementwise_affine": False, "norm_eps": 1e-06,
        "norm_num_groups": 32, "num_embeds_ada_norm": 1000, "num_vector_embeds": None,
        "only_cross_attention": False, "cross_attention_norm": True, "upcast_attention": False,
        "use_linear_projection": False, "qk_norm": "rms_norm", "standardization_norm": "rms_norm",
        "positional_embedding_type": "rope", "positional_embedding_theta": 10000.0,
        "positional_embedding_max_pos": [20, 2048, 2048], "audio_positional_embedding_max_pos": [20],
        "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0,
        "causal_temporal_positioning": True, "use_audio_video_cross_attention": True,
        "share_ff": False, "av_cross_ada_norm": True, "use_middle_indices_grid": True,
        "num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 32,
        "cross_attention_dim": 64,  # must equal heads*head_dim (context arrives pre-projected)
        "audio_num_attention_heads": 2, "audio_attention_head_dim": 16, "audio_cross_attention_dim": 32,
        "in_channels": 128, "out_channels": 128,  # = video VAE latent channels (real)
        "audio_in_channels": 128, "audio_out_channels": 128,  # = 8 z-channels x 16 latent mel bins (real)
        "caption_channels": 3840,  # Gemma-3 hidden size (unused when projection precedes connector)
        "use_embeddings_connector": True, "connector_num_layers": 2,  # real: 8
        "connector_num_attention_heads": 2, "connector_attention_head_dim": 32,  # = video inner dim
        "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 16,
        "connector_positional_embedding_max_pos": [4096], "connector_num_learnable_registers": 128,
        "connector_norm_output": True, "connector_learnable_registers_std": 1,
        "apply_gated_attention": True, "connector_apply_gated_attention": True,
        "cross_attention_adaln": True, "caption_proj_before_connector": True,
        "caption_projection_first_linear": False, "caption_projection_second_linear": False,
        "caption_proj_input_norm": False, "text_encoder_norm_type": "per_token_rms",
        "rope_type": "split", "frequencies_precision": "float64",
    }

    def blocks(kinds: Iterable[tuple[str, int]]) -> list[list[Any]]:
        out: list[list[Any]] = []
        for name, mult in kinds:
            out += [["res_x", {"num_layers": 1}], [name, {"multiplier": mult}]]
        return out + [["res_x", {"num_layers": 1}]]

    # Same compressions as LTX-2.3 (8x time / 32x space with patch_size 4, 128 latent channels).
    # The encoder keeps only its four compressing blocks (real: res_x depth 2-6 between them,
    # multipliers 2,2,2,1): in ltx-core 1.0.0 its features start at 128 channels at full
    # resolution, so every full-resolution block costs ~0.1-0.4 TFLOP per 256x256x121 clip.
    # The decoder keeps res_x depth 1 between its blocks (real 2-6) and 16 base channels (real 128).
    vae = {
        "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
        "latent_channels": 128, "patch_size": 4, "norm_layer": "pixel_norm",
        "latent_log_var": "uniform", "use_quant_conv": False, "causal_decoder": False,
        "timestep_conditioning": False, "normalize_latent_channels": False, "scaling_factor": 1.0,
        "encoder_base_channels": 128, "decoder_base_channels": 16,  # real decoder: 128
        "spatial_padding_mode": "zeros",
        "encoder_blocks": [["compress_space_res", {"multiplier": 1}], ["compress_time_res", {"multiplier": 1}],
                           ["compress_all_res", {"multiplier": 1}], ["compress_all_res", {"multiplier": 1}]],
        "decoder_blocks": blocks([("compress_space", 2), ("compress_time", 2),
                                  ("compress_all", 1), ("compress_all", 2)]),
    }
    audio_vae = {  # real: num_res_blocks 2; ch stays 128 (ltx-core sizes latent stats by ch = 8x16); 16 kHz, n_fft 1024, hop 160, 64 mel, stereo
        "model": {"params": {"sampling_rate": 16000, "ddconfig": {
            "double_z": True, "mel_bins": 64, "z_channels": 8, "resolution": 256,
            "downsample_time": False, "in_channels": 2, "out_ch": 2, "ch": 128,
            "ch_mult": [1, 1, 1], "num_res_blocks": 1,  # real [1,2,4]: same 2 downsamples (4x)
            "attn_resolutions": [], "dropout": 0.0,
            "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height"}}},
        "preprocessing": {
            "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
            "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}},
    }
    # one AMP1 resblock per upsampling stage (real: three, kernels 3/7/11): the vocoder runs at up to
    # 48 kHz, and three resblocks made decoding 5 s of audio take ~30 s on 2 CPU cores
    amp = {"resblock": "AMP1", "resblock_kernel_sizes": [3],
           "resblock_dilation_sizes": [[1, 3, 5]], "stereo": True,
           "use_tanh_at_final": False, "activation": "snakebeta", "use_bias_at_final": False}
    vocoder = {  # nested vocoder+bwe => ltx-core builds VocoderWithBWE (2.3 layout)
        "vocoder": {**amp, "upsample_initial_channel": 128,  # real 1536 (halves per stage); x160 = hop
                    "upsample_rates": [5, 2, 2, 2, 2, 2], "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4]},
        "bwe": {**amp, "upsample_initial_channel": 64,  # real 512; 16 kHz -> 48 kHz
                "upsample_rates": [6, 5, 2, 2, 2], "upsample_kernel_sizes": [12, 11, 4, 4, 4],
                "apply_final_activation": False, "input_sampling_rate": 16000,
                "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512, "win_size": 512,
                "num_mels": 64},
    }
    return {"transformer": t, "vae": vae, "audio_vae": audio_vae, "vocoder": vocoder}


def ltx23_media_config() -> dict[str, Any]:
    """The ``vae`` / ``audio_vae`` / ``vocoder`` sections of the real LTX-2.3 (22B) checkpoint's
    ``config`` metadata: what ltx-core builds the full-size media models from. Built with ltx-core
    1.0.0 they have the published sizes (video encoder 318.9M / decoder 407.2M parameters, audio
    encoder 21.3M / decoder 31.9M, vocoder + bandwidth extension 128.5M). Used to benchmark the
    full-size encoders with random weights (``benchmarks/encode_gpu.py``)."""
    def blocks(spec: list[tuple[str, int]], layers: list[int], compress_suffix: str) -> list[list[Any]]:
        out: list[list[Any]] = []
        for (name, mult), n in zip(spec, layers):
            out += [["res_x", {"num_layers": n}], [name + compress_suffix, {"multiplier": mult}]]
        return out + [["res_x", {"num_layers": layers[-1]}]]

    vae = {
        "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
        "latent_channels": 128, "patch_size": 4, "norm_layer": "pixel_norm", "latent_log_var": "uniform",
        "use_quant_conv": False, "causal_decoder": False, "timestep_conditioning": False,
        "normalize_latent_channels": False, "scaling_factor": 1.0, "encoder_base_channels": 128,
        "decoder_base_channels": 128, "spatial_padding_mode": "zeros",
        "encoder_blocks": blocks([("compress_space", 2), ("compress_time", 2), ("compress_all", 2),
                                  ("compress_all", 1)], [4, 6, 4, 2, 2], "_res"),
        "decoder_blocks": blocks([("compress_space", 2), ("compress_time", 2), ("compress_all", 1),
                                  ("compress_all", 2)], [4, 6, 4, 2, 2], ""),
    }
    audio_vae = {
        "model": {"params": {"sampling_rate": 16000, "ddconfig": {
            "double_z": True, "mel_bins": 64, "z_channels": 8, "resolution": 256, "downsample_time": False,
            "in_channels": 2, "out_ch": 2, "ch": 128, "ch_mult": [1, 2, 4], "num_res_blocks": 2,
            "attn_resolutions": [], "dropout": 0.0, "mid_block_add_attention": False, "norm_type": "pixel",
            "causality_axis": "height"}}},
        "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
                          "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}},
    }
    amp = {"resblock": "AMP1", "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5]] * 3,
           "stereo": True, "use_tanh_at_final": False, "activation": "snakebeta", "use_bias_at_final": False}
    vocoder = {
        "vocoder": {**amp, "upsample_initial_channel": 1536, "upsample_rates": [5, 2, 2, 2, 2, 2],
                    "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4]},
        "bwe": {**amp, "upsample_initial_channel": 512, "upsample_rates": [6, 5, 2, 2, 2],
                "upsample_kernel_sizes": [12, 11, 4, 4, 4], "apply_final_activation": False,
                "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512,
                "win_size": 512, "num_mels": 64},
    }
    return {"vae": vae, "audio_vae": audio_vae, "vocoder": vocoder}


# The transformer of LTX-2.3 22B: 48 blocks, video 32 heads x 128, audio 32 heads x 64.
LTX23_TRANSFORMER_DIMS: dict[str, Any] = {
    "num_layers": 48,
    "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048,
    "connector_num_layers": 8, "connector_num_attention_heads": 32, "connector_attention_head_dim": 128,
    "audio_connector_num_attention_heads": 32, "audio_connector_attention_head_dim": 64,
}


def ltx23_config() -> dict[str, Any]:
    """The ``config`` metadata of the full-size LTX-2.3 (22B) checkpoint: the transformer section has
    every structural switch of :func:`tiny_ltx_config` (which copies LTX-2.3's) with the real sizes
    above, the media sections are :func:`ltx23_media_config`. Used to build the real architecture on
    the meta device (benchmarks, ``lora inspect`` without a checkpoint)."""
    return {"transformer": {**tiny_ltx_config()["transformer"], **LTX23_TRANSFORMER_DIMS}, **ltx23_media_config()}


def build_transformer(config: dict[str, Any], device: str = "meta") -> Any:
    """An ``LTXModel`` built from ``config`` by ltx-core's configurator (weights uninitialised)."""
    import torch

    ensure_torchaudio_importable()
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    with torch.device(device):
        return LTXModelConfigurator.from_config(config)


def component_specs(gemma: tuple[int, int] | None = None) -> dict[str, tuple[Any, Any, str]]:
    """component -> (ltx-core configurator, key SDOps, checkpoint prefix).

    ``gemma`` = (hidden size, hidden layers) of the Gemma the captions are encoded with: the text
    projection's input width is hidden size x (layers + 1). ``None`` keeps ltx-core 1.0.0's own
    configurator, which assumes Gemma 3 12B (3840 x 49 = 188160)."""
    ensure_torchaudio_importable()
    from ltx_core.model.audio_vae import model_configurator as am
    from ltx_core.model.transformer.model_configurator import (
        LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator)
    from ltx_core.model.video_vae import model_configurator as vm
    from ltx_core.text_encoders.gemma import (
        EMBEDDINGS_PROCESSOR_KEY_OPS, EmbeddingsProcessorConfigurator)

    text: Any = EmbeddingsProcessorConfigurator
    if gemma is not None:
        from ltxvoice.models.gemma import embeddings_processor_configurator

        text = embeddings_processor_configurator(*gemma)
    specs = {
        "transformer": (LTXModelConfigurator, LTXV_MODEL_COMFY_RENAMING_MAP),
        "video_encoder": (vm.VideoEncoderConfigurator, vm.VAE_ENCODER_COMFY_KEYS_FILTER),
        "video_decoder": (vm.VideoDecoderConfigurator, vm.VAE_DECODER_COMFY_KEYS_FILTER),
        "audio_encoder": (am.AudioEncoderConfigurator, am.AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER),
        "audio_decoder": (am.AudioDecoderConfigurator, am.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER),
        "vocoder": (am.VocoderConfigurator, am.VOCODER_COMFY_KEYS_FILTER),
        "embeddings_processor": (text, EMBEDDINGS_PROCESSOR_KEY_OPS),
    }
    return {name: (configurator, ops, KEY_PREFIX[name]) for name, (configurator, ops) in specs.items()}


# The config section each component is built from, and where its weights are in the unified file.
CONFIG_SECTION = {"transformer": "transformer", "video_encoder": "vae", "video_decoder": "vae",
                  "audio_encoder": "audio_vae", "audio_decoder": "audio_vae", "vocoder": "vocoder",
                  "embeddings_processor": "transformer"}
KEY_PREFIX = {"transformer": "model.diffusion_model.", "video_encoder": "vae.encoder.", "video_decoder": "vae.decoder.",
              "audio_encoder": "audio_vae.encoder.", "audio_decoder": "audio_vae.decoder.", "vocoder": "vocoder.",
              "embeddings_processor": "text_embedding_projection."}


# The two text connectors of the embeddings processor (module prefix) and where a unified checkpoint
# keeps them (under the transformer's prefix, although ltx-core builds them into the text path).
TEXT_CONNECTORS = {"video_connector.": "model.diffusion_model.video_embeddings_connector.",
                   "audio_connector.": "model.diffusion_model.audio_embeddings_connector."}

# Module-key -> checkpoint-key renames (inverse of ltx-core's SDOps for the real file).
_INVERSE = {
    "video_encoder": [("per_channel_statistics.", "vae.per_channel_statistics."), ("", "vae.encoder.")],
    "video_decoder": [("per_channel_statistics.", "vae.per_channel_statistics."), ("", "vae.decoder.")],
    "audio_encoder": [("per_channel_statistics.", "audio_vae.per_channel_statistics."), ("", "audio_vae.encoder.")],
    "audio_decoder": [("per_channel_statistics.", "audio_vae.per_channel_statistics."), ("", "audio_vae.decoder.")],
    "transformer": [("", "model.diffusion_model.")],
    "vocoder": [("", "vocoder.")],  # BWE keys become vocoder.vocoder.* / vocoder.bwe_generator.*
    "embeddings_processor": [("feature_extractor.", "text_embedding_projection."), *TEXT_CONNECTORS.items()],
}


def _init_tensor(name: str, ref: Any, seed: int, sr: int = 16000) -> Any:
    """Deterministic, finite values for one tensor (per-key generator)."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    shape, leaf = tuple(ref.shape), name.rsplit(".", 1)[-1]
    if leaf == "std-of-means":  # latent normalisation stats: must be > 0
        return 0.5 + torch.rand(shape, generator=g)
    if leaf == "mean-of-means":
        return 0.1 * torch.randn(shape, generator=g)
    if leaf == "filter":  # anti-alias sinc filters: analytic, built by ltx-core on CPU
        return ref.detach().float().clone()
    if leaf == "mel_basis":  # BWE mel filterbank [n_mels, n_freqs] (real: slaney, bf16)
        from torchaudio.functional import melscale_fbanks
        return melscale_fbanks(shape[1], 0.0, sr / 2, shape[0], sr, norm="slaney", mel_scale="slaney").T
    if leaf in ("forward_basis", "inverse_basis"):  # causal STFT: DFT rows x Hann window
        n_fft = shape[-1]
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        ang = 2 * math.pi * k * torch.arange(n_fft, dtype=torch.float64)[None] / n_fft
        win = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        return (torch.cat([torch.cos(ang), -torch.sin(ang)]) * win)[:, None, :].float()
    if leaf == "learnable_registers":
        return torch.rand(shape, generator=g) * 2 - 1
    if leaf in ("alpha", "beta"):  # snakebeta (log-scale) parameters
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) <= 1 and leaf == "weight":  # norm scales
        return 1 + 0.02 * torch.randn(shape, generator=g)
    if len(shape) <= 1:
        return 0.02 * torch.randn(shape, generator=g)
    fan_in = max(1, ref.numel() // shape[0])
    return torch.randn(shape, generator=g) / math.sqrt(fan_in)


def write_tiny_ltx_checkpoint(path: Path, *, seed: int = 0, gemma: tuple[int, int] | None = None) -> Path:
    """Write a tiny random-weight LTX-2.3 unified checkpoint to ``path``.

    Each component is built with ltx-core's configurator from :func:`tiny_ltx_config`, every
    parameter/buffer is overwritten with deterministic finite values, tensors are cast to bf16 (as
    in the real file) and saved under the real key prefixes with ``{"config": ...}`` metadata.
    The text projection is sized for the Gemma ``gemma`` = (hidden size, layers) it will be used
    with (default: the tiny Gemma of :mod:`ltxvoice.models.gemma`). Same seed -> byte-identical file.
    """
    import torch
    from safetensors.torch import save_file

    if gemma is None:
        from ltxvoice.models.gemma import TINY_TEXT

        gemma = (TINY_TEXT["hidden_size"], TINY_TEXT["num_hidden_layers"])
    path = Path(path)
    config = tiny_ltx_config()
    sr = config["vocoder"]["bwe"]["input_sampling_rate"]
    out: dict[str, Any] = {}
    for comp, (configurator, _ops, _prefix) in component_specs(gemma).items():
        with torch.device("cpu"):
            module = configurator.from_config(config)
        for key, ref in module.state_dict().items():
            ckpt_key = next(new + key[len(old):] for old, new in _INVERSE[comp] if key.startswith(old))
            if ckpt_key in out:  # per_channel_statistics shared by encoder and decoder
                continue
            value = _init_tensor(ckpt_key, ref, seed, sr) if ref.is_floating_point() else ref.clone()
            out[ckpt_key] = value.to(torch.bfloat16).contiguous() if value.is_floating_point() else value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(dict(sorted(out.items())), str(tmp), metadata={"config": json.dumps(config, sort_keys=True)})
    tmp.replace(path)
    return path


class CheckpointError(ValueError):
    """An LTX checkpoint that cannot give the asked-for component; the message names file and problem."""


def checkpoint_config(path: Path, components: Iterable[str] = COMPONENTS) -> dict[str, Any]:
    """Check that ``path`` is an LTX-2 unified safetensors that can give ``components`` and return its
    ``config`` metadata: a safetensors file, a JSON ``config`` with the sections the components are
    built from, and tensors under each component's key prefix. Raises ``FileNotFoundError`` or
    :class:`CheckpointError` naming the file and what is wrong (ltx-core would instead build from
    defaults or leave weights on the meta device)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LTX checkpoint not found: {path}")
    components = list(components)
    unknown = [c for c in components if c not in CONFIG_SECTION]
    if unknown:
        raise ValueError(f"unknown LTX components {unknown}; choose from {list(CONFIG_SECTION)}")
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
            keys = list(f.keys())
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if "config" not in metadata:
        raise CheckpointError(f"{path}: no 'config' in its safetensors metadata, so it is not an LTX-2 unified "
                              "checkpoint (a split component file or a converted export?)")
    try:
        config = json.loads(metadata["config"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its 'config' metadata is not valid JSON ({exc.msg})") from None
    for comp in components:
        section = CONFIG_SECTION[comp]
        if not isinstance(config.get(section), dict):
            raise CheckpointError(f"{path}: config has no '{section}' section, needed for the {comp} "
                                  f"(sections: {sorted(config)})")
        if not any(k.startswith(KEY_PREFIX[comp]) for k in keys):
            raise CheckpointError(f"{path}: no tensors under '{KEY_PREFIX[comp]}', where the {comp} weights of an "
                                  "LTX-2 unified checkpoint are")
    return config


def load_ltx_components(
    path: Path,
    device: str = "cpu",
    components: Iterable[str] = COMPONENTS,
    dtype: Any = None,
    gemma_root: Path | None = None,
    loras: Sequence[tuple[Path, float]] = (),
) -> dict[str, Any]:
    """Load LTX-2.3 components from a unified checkpoint via ltx-core.

    Uses ``SingleGPUModelBuilder(model_class_configurator, model_path, model_sd_ops).build(device,
    dtype)`` per component, exactly as for the real file, after :func:`checkpoint_config` has checked
    the file. ltx-core only *warns* about missing keys (and returns a model with meta tensors), so
    this raises :class:`CheckpointError` naming the file and the missing keys; a tensor of the wrong
    shape is a :class:`CheckpointError` too. The ``embeddings_processor`` (text projection +
    connectors) is sized for the Gemma folder ``gemma_root`` when given, else for Gemma 3 12B.

    ``loras`` = (file, strength) pairs fused into the transformer by the builder itself
    (``builder.lora(file, strength, LTXV_LORA_COMFY_RENAMING_MAP)``: W + strength·B·A, the key
    renaming a user's loader applies); a strength of 0 is skipped.
    """
    import torch
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder

    path = Path(path)
    components = list(components)
    checkpoint_config(path, components)
    loras = [(Path(f), s) for f, s in loras if s != 0]
    for file, _ in loras:
        if not file.is_file():
            raise FileNotFoundError(f"LoRA checkpoint not found: {file}")
    gemma = None
    if gemma_root is not None:
        from ltxvoice.models.gemma import gemma_folder

        folder = gemma_folder(gemma_root)
        gemma = (folder.hidden_size, folder.num_hidden_layers)
    specs = component_specs(gemma)
    loaded: dict[str, Any] = {}
    for comp in components:
        configurator, ops, _ = specs[comp]
        builder = SingleGPUModelBuilder(model_class_configurator=configurator,
                                        model_path=str(path), model_sd_ops=ops)
        fused = comp == "transformer" and bool(loras)
        for file, strength in loras if fused else ():
            builder = builder.lora(str(file), strength, LTXV_LORA_COMFY_RENAMING_MAP)
        try:
            model = builder.build(device=torch.device(device), dtype=dtype)
        except RuntimeError as exc:  # load_state_dict: size mismatch
            first = str(exc).strip().splitlines()
            detail = next((ln.strip() for ln in first if "size mismatch" in ln), first[-1] if first else str(exc))
            raise CheckpointError(f"{path}: LTX component '{comp}' does not fit its config: {detail}") from None
        meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if meta:
            shown = ", ".join(meta[:10]) + (f" (+{len(meta) - 10} more)" if len(meta) > 10 else "")
            raise CheckpointError(f"{path}: LTX component '{comp}' is missing {len(meta)} "
                                  f"tensor(s) in the checkpoint (left on meta): {shown}")
        if fused and dtype is not None:  # with a LoRA, ltx-core 1.0 casts only the fused weights to `dtype`
            model = model.to(dtype)
        loaded[comp] = model.eval()
    return loaded


def load_transformer(path: Path, device: str, dtype: Any, loras: Sequence[tuple[Path, float]] = ()) -> Any:
    """The transformer (``LTXModel``) of a unified LTX-2.3 checkpoint, ``loras`` fused (see
    :func:`load_ltx_components`)."""
    return load_ltx_components(path, device=device, components=("transformer",), dtype=dtype,
                               loras=loras)["transformer"]


def load_text_connectors(path: Path, device: str, dtype: Any) -> Any:
    """The embeddings processor with its video and audio connectors only: the Gemma feature
    extractor (a ~1.2B-parameter projection the training data has already been through) is never
    read. Raises ValueError naming the file when a connector tensor is missing."""
    import torch

    ensure_torchaudio_importable()
    from ltx_core.loader import SDOps, SingleGPUModelBuilder
    from ltx_core.text_encoders.gemma import EmbeddingsProcessorConfigurator

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LTX checkpoint not found: {path}")
    ops = SDOps("LTXVOICE_CONNECTORS_ONLY")
    for module, stored in TEXT_CONNECTORS.items():
        ops = ops.with_matching(prefix=stored).with_replacement(stored, module)
    builder = SingleGPUModelBuilder(model_class_configurator=EmbeddingsProcessorConfigurator,
                                    model_path=str(path), model_sd_ops=ops)
    config = builder.model_config()
    meta = builder.meta_model(config, ())
    meta.feature_extractor = None
    state = builder.load_sd([str(path)], registry=builder.registry, device=torch.device(device), sd_ops=ops)
    sd = {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in state.sd.items()}
    meta.load_state_dict(sd, strict=False, assign=True)
    missing = [n for n, t in [*meta.named_parameters(), *meta.named_buffers()] if t.is_meta]
    if missing:
        raise ValueError(f"{path}: text connectors are missing {len(missing)} tensor(s): {', '.join(missing[:5])}")
    return meta.to(torch.device(device)).eval().requires_grad_(False)


def run_text_connectors(processor: Any, video_features: Any, audio_features: Any, mask: Any) -> tuple[Any, Any, Any]:
    """Text features (after the text projection: what the encode stage stores) -> the transformer's
    cross-attention contexts, through the checkpoint's video and audio connectors (ltx-core's
    ``EmbeddingsProcessor.create_embeddings``), without gradients.

    ``video_features`` [B, T, Dv], ``audio_features`` [B, T, Da] and ``mask`` [B, T] (True: a token
    of the prompt) give ``(video [B, T, Dv'], audio [B, T, Da'], mask [B, T])``; the connectors'
    learned registers fill the padded positions, so the returned mask is all ones."""
    import torch
    from ltx_core.text_encoders.gemma import convert_to_additive_mask

    with torch.no_grad():
        return processor.create_embeddings(video_features, audio_features,
                                           convert_to_additive_mask(mask, video_features.dtype))
