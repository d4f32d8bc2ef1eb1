"""Generating audio and video with LTX-2.3 on ltx-core, the LoRA fused by ltx-core itself.

The transformer of each arm is built by ltx-core's ``SingleGPUModelBuilder`` from the unified
checkpoint (:func:`ltxvoice.models.ltx.load_transformer`); a LoRA arm adds ``builder.lora(path,
strength, LTXV_LORA_COMFY_RENAMING_MAP)`` - the same fusion (W + strength·B·A) and the same key
renaming a user's loader applies, so the eval measures the file as users load it, not a
re-implementation.

Sampling is flow matching with Euler steps: the schedule is LTX2Scheduler's (token-count shift,
stretched to a terminal sigma) or an explicit sigma list; each step asks the transformer for the
denoised latents (ltx-core's ``X0Model``), applies classifier-free guidance per modality
(``denoised + (scale - 1)·(denoised - denoised_uncond)``) and moves along the velocity
(ltx-core's ``EulerDiffusionStep``). The noise of every generation comes from its own CPU
generator seeded with its seed, in a fixed order (video, then audio), so a seed gives the same
start whatever the batch, the device or the arm - which is what makes "LoRA on vs off at the same
seed" a controlled comparison.

An audio reference (the helium tone) is encoded by the checkpoint's audio VAE and appended to the
audio tokens clean: denoise mask 0, so its timestep is 0 and every step puts it back. Its RoPE
positions lie before the generated timeline (``negative``: ending ``gap`` seconds before 0, the
ID-LoRA convention) or on it (``overlap``: the official trainer's placement). It is dropped before
decoding: the decoded audio is the generated span only, and its length is checked.

Text: the prompts go through a Gemma folder (:class:`GemmaPromptEncoder`) and the checkpoint's own
text projection and connectors. Without one, ``RandomTextEncoder`` stands in: seeded Gemma-shaped
hidden states per prompt, through the same projection and connectors. Its contexts carry no
meaning; every result made with it says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from ltxvoice.models.ltx import load_ltx_components, load_transformer, run_text_connectors
from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

if TYPE_CHECKING:  # the GPU benchmark imports this module where pydantic is not installed
    from ltxvoice.config import EvalSamplerParams

RANDOM_TEXT = "random-context (no text encoder: seeded Gemma-shaped hidden states per prompt)"
Placement = Literal["negative", "overlap"]


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` -> bfloat16 on cuda (the checkpoint's dtype), float32 on cpu (bf16 matmuls are slow there)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]


@dataclass(frozen=True)
class Shape:
    """What is generated: ``frames`` at ``fps``, ``width`` x ``height``; audio of the same length."""

    frames: int
    height: int
    width: int
    fps: float

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class TextContext:
    """Text conditioning after the checkpoint's text projection and connectors, batch 1."""

    video: Any  # (1, T, video inner dim)
    audio: Any  # (1, T, audio inner dim)
    source: str


class TextEncoder(Protocol):
    """ltx-core's ``GemmaTextEncoder.encode`` interface: prompt -> (hidden states, attention mask)."""

    source: str

    def encode(self, text: str) -> tuple[Any, Any]: ...


class RandomTextEncoder:
    """Seeded stand-in for Gemma-3: hidden states of Gemma's shape (``hidden`` x ``layers``), left
    padded to ``length`` tokens, different for every prompt (seed = hash of seed and prompt).
    Labelled :data:`RANDOM_TEXT` wherever its contexts are used."""

    source = RANDOM_TEXT

    def __init__(self, hidden: int, layers: int, length: int = 128, seed: int = 0) -> None:
        self.hidden, self.layers, self.length, self.seed = hidden, layers, length, seed

    def encode(self, text: str) -> tuple[Any, Any]:
        import torch

        digest = hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
        valid = max(1, min(self.length, len(text.encode()) // 4 + 1))  # ~4 bytes per token
        states = torch.zeros(1, self.length, self.hidden, self.layers)
        states[:, self.length - valid :] = torch.randn(1, valid, self.hidden, self.layers, generator=g)
        mask = torch.zeros(1, self.length, dtype=torch.int64)
        mask[:, self.length - valid :] = 1
        return states, mask


class GemmaPromptEncoder:
    """A Gemma 3 folder loaded through ltx-core (:func:`ltxvoice.models.gemma.load_text_encoder`): the
    real text path, as the encode stage and the trainers use it."""

    def __init__(self, root: Path, device: str = "cpu", dtype: Any = None) -> None:
        from ltxvoice.models.gemma import load_text_encoder

        self._encoder = load_text_encoder(Path(root), device=device, dtype=dtype)
        self.source = f"Gemma text encoder ({root})"

    def encode(self, text: str) -> tuple[Any, Any]:
        return self._encoder.encode(text)


def random_text_encoder(processor: Any, seed: int = 0) -> RandomTextEncoder:
    """A :class:`RandomTextEncoder` shaped for this checkpoint's text projection (Gemma-3's hidden
    size x layers + 1 when its width says so; one "layer" of the full width otherwise, e.g. for a
    projection sized for a tiny Gemma) and connector (its learnable-register count of tokens)."""
    from ltx_core.text_encoders.gemma.config import GEMMA3_CONFIG_FOR_LTX

    layers = GEMMA3_CONFIG_FOR_LTX.text_config.num_hidden_layers + 1
    in_features = processor.feature_extractor.video_aggregate_embed.in_features
    hidden, layers = (in_features // layers, layers) if in_features % layers == 0 else (in_features, 1)
    return RandomTextEncoder(hidden, layers, length=processor.video_connector.num_learnable_registers or 128, seed=seed)


def encode_prompt(encoder: TextEncoder, processor: Any, prompt: str, device: str, dtype: Any) -> TextContext:
    """Prompt -> video and audio contexts through the checkpoint's own text path (feature
    extractor + connectors, ltx-core's ``EmbeddingsProcessor.process_hidden_states``)."""
    import torch

    states, mask = encoder.encode(prompt)
    if isinstance(states, (list, tuple)):
        states = torch.stack(list(states), dim=-1)
    with torch.no_grad():
        out = processor.process_hidden_states(states.to(device=device, dtype=dtype), mask.to(device), "left")
    if out.audio_encoding is None:
        raise ValueError("this checkpoint's text path gives no audio context (not an audio-video model)")
    return TextContext(video=out.video_encoding, audio=out.audio_encoding, source=encoder.source)


PRECOMPUTED_TEXT = "precomputed text features (the trainer's conditions format)"


def context_from_features(
    processor: Any,
    video_features: Any,
    audio_features: Any,
    mask: Any,
    device: str,
    dtype: Any,
    source: str = PRECOMPUTED_TEXT,
) -> TextContext:
    """Precomputed text features -> contexts through the checkpoint's connectors.

    The features are what the official trainer's ``conditions/<id>.pt`` files hold (and the encode
    stage writes): ``video_prompt_embeds`` / ``audio_prompt_embeds`` of shape (T, D) after the text
    projection, and ``prompt_attention_mask`` (T,) - one caption, without the batch dimension."""
    import torch

    v = torch.as_tensor(video_features)[None].to(device=device, dtype=dtype)
    a = torch.as_tensor(audio_features)[None].to(device=device, dtype=dtype)
    m = torch.as_tensor(mask)[None].to(device)
    if v.shape[1] != m.shape[1] or a.shape[1] != m.shape[1]:
        raise ValueError(f"text features of {v.shape[1]}/{a.shape[1]} tokens with a mask of {m.shape[1]}")
    video, audio, _ = run_text_connectors(processor, v, a, m)
    return TextContext(video=video, audio=audio, source=source)


def sigma_schedule(params: EvalSamplerParams, video_tokens: int) -> Any:
    """The sigma schedule, 1 -> 0 (or the explicit ``params.sigmas``). One step is [1, 0]: the
    stretch of LTX2Scheduler divides by zero there."""
    import torch
    from ltx_core.components.schedulers import LTX2Scheduler

    if params.sigmas is not None:
        sigmas = torch.tensor(params.sigmas, dtype=torch.float32)
    elif params.steps == 1:
        sigmas = torch.tensor([1.0, 0.0])
    else:
        tokens = torch.empty(1, 1, video_tokens, device="meta")
        sigmas = LTX2Scheduler().execute(
            steps=params.steps,
            latent=tokens,
            max_shift=params.max_shift,
            base_shift=params.base_shift,
            stretch=params.stretch,
            terminal=params.terminal,
        )
    if not bool(torch.isfinite(sigmas).all()):
        raise ValueError(f"the sigma schedule is not finite: {sigmas.tolist()}")
    return sigmas


@dataclass(frozen=True)
class Latents:
    """Generated latents of one generation, unpatchified, float32 on the CPU."""

    seed: int
    video: Any  # (1, 128, F', H/32, W/32)
    audio: Any  # (1, channels, T, mel bins): the generated span only, reference removed


def _noise(seed: int, video_shape: Any, audio_shape: Any) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(video_shape), generator=g), torch.randn(tuple(audio_shape), generator=g)


def generate(
    transformer: Any,
    shape: Shape,
    audio_channels: int,
    mel_bins: int,
    positive: TextContext,
    negative: TextContext | None,
    seeds: Sequence[int],
    params: EvalSamplerParams,
    *,
    reference: Any | None = None,
    placement: Placement = "negative",
    gap_s: float = 0.0,
    device: str = "cpu",
    dtype: Any = None,
) -> list[Latents]:
    """Denoise one batch (one generation per seed) of audio + video latents.

    ``reference``: audio latents (1, channels, T_ref, mel_bins) appended clean to every generation.
    ``negative``: the unconditional text context, needed when a CFG scale is above 1."""
    import torch
    from ltx_core.components.diffusion_steps import EulerDiffusionStep
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.guidance.perturbations import BatchedPerturbationConfig
    from ltx_core.model.transformer.modality import Modality
    from ltx_core.model.transformer.model import X0Model
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, VideoLatentShape, VideoPixelShape

    dtype = dtype or torch.float32
    cfg = params.cfg_video != 1.0 or params.cfg_audio != 1.0
    if cfg and negative is None:
        raise ValueError("a CFG scale above 1 needs the negative prompt's context")
    b = len(seeds)
    pixels = VideoPixelShape(batch=b, frames=shape.frames, height=shape.height, width=shape.width, fps=shape.fps)
    vshape = VideoLatentShape.from_pixel_shape(pixels, latent_channels=transformer.patchify_proj.in_features)
    ashape = AudioLatentShape.from_video_pixel_shape(pixels, channels=audio_channels, mel_bins=mel_bins)
    vtools = VideoLatentTools(VideoLatentPatchifier(patch_size=1), vshape, fps=shape.fps)
    atools = AudioLatentTools(AudioPatchifier(patch_size=1), ashape)
    sigmas = sigma_schedule(params, vshape.token_count()).to(device)
    noise = [
        _noise(s, vshape._replace(batch=1).to_torch_shape(), ashape._replace(batch=1).to_torch_shape()) for s in seeds
    ]
    vnoise = torch.cat([n[0] for n in noise]).to(device=device, dtype=dtype)
    anoise = torch.cat([n[1] for n in noise]).to(device=device, dtype=dtype)

    video = vtools.create_initial_state(device, dtype)
    video = replace(video, latent=vtools.patchifier.patchify(vnoise) * sigmas[0])
    audio = atools.create_initial_state(device, dtype)
    audio = replace(audio, latent=atools.patchifier.patchify(anoise) * sigmas[0])
    n_audio = audio.latent.shape[1]
    if reference is not None:
        audio = _append_reference(
            audio, reference.to(device=device, dtype=dtype), atools.patchifier, b, placement, gap_s
        )

    def context(ctx: TextContext, which: str) -> Any:
        return getattr(ctx, which).to(device=device, dtype=dtype).expand(b, -1, -1)

    model = X0Model(transformer)
    stepper = EulerDiffusionStep()
    none = BatchedPerturbationConfig.empty(2 * b if cfg else b)
    with torch.no_grad():
        for i in range(len(sigmas) - 1):
            sigma = sigmas[i].expand(b)
            v = Modality(
                latent=video.latent,
                sigma=sigma,
                timesteps=video.denoise_mask * sigmas[i],
                positions=video.positions,
                context=context(positive, "video"),
            )
            a = Modality(
                latent=audio.latent,
                sigma=sigma,
                timesteps=audio.denoise_mask * sigmas[i],
                positions=audio.positions,
                context=context(positive, "audio"),
            )
            if cfg:
                assert negative is not None
                both_v, both_a = model(
                    _stack(v, context(negative, "video")), _stack(a, context(negative, "audio")), none
                )
                dv = _guide(both_v, b, params.cfg_video)
                da = _guide(both_a, b, params.cfg_audio)
            else:
                dv, da = model(v, a, none)
            da = (da * audio.denoise_mask + audio.clean_latent.float() * (1 - audio.denoise_mask)).to(da.dtype)
            video = replace(video, latent=stepper.step(video.latent, dv, sigmas, i))
            audio = replace(audio, latent=stepper.step(audio.latent, da, sigmas, i))
    vlat = vtools.patchifier.unpatchify(video.latent, output_shape=vshape).float().cpu()
    alat = atools.patchifier.unpatchify(audio.latent[:, :n_audio], output_shape=ashape).float().cpu()
    return [Latents(seed=s, video=vlat[j : j + 1], audio=alat[j : j + 1]) for j, s in enumerate(seeds)]


def _stack(m: Any, negative_context: Any) -> Any:
    """The conditional and unconditional passes as one batch of twice the size."""
    import torch

    cat = lambda x: torch.cat([x, x])  # noqa: E731
    return replace(
        m,
        latent=cat(m.latent),
        sigma=cat(m.sigma),
        timesteps=cat(m.timesteps),
        positions=cat(m.positions),
        context=torch.cat([m.context, negative_context]),
    )


def _guide(both: Any, b: int, scale: float) -> Any:
    cond, uncond = both[:b], both[b:]
    return cond + (scale - 1.0) * (cond - uncond) if scale != 1.0 else cond


def _append_reference(state: Any, reference: Any, patchifier: Any, b: int, placement: Placement, gap_s: float) -> Any:
    """Append clean reference tokens (denoise mask 0) after the generated audio tokens, with RoPE
    positions before the timeline (``negative``) or on it (``overlap``)."""
    import torch
    from ltx_core.types import AudioLatentShape, LatentState

    if reference.ndim != 4 or reference.shape[0] != 1:
        raise ValueError(f"reference latents must be (1, channels, frames, mel_bins), got {tuple(reference.shape)}")
    tokens = patchifier.patchify(reference).expand(b, -1, -1)
    rshape = AudioLatentShape.from_torch_shape(reference.shape)._replace(batch=b)
    positions = patchifier.get_patch_grid_bounds(rshape, device=reference.device).to(state.positions.dtype)
    if placement == "negative":
        positions = positions - (positions[..., 1].max() + gap_s)
    mask = torch.zeros(b, tokens.shape[1], 1, device=state.denoise_mask.device, dtype=state.denoise_mask.dtype)
    return LatentState(
        latent=torch.cat([state.latent, tokens.to(state.latent.dtype)], dim=1),
        denoise_mask=torch.cat([state.denoise_mask, mask], dim=1),
        positions=torch.cat([state.positions, positions], dim=2),
        clean_latent=torch.cat([state.clean_latent, tokens.to(state.clean_latent.dtype)], dim=1),
    )


def encode_reference(samples: np.ndarray, rate: int, audio_encoder: Any) -> Any:
    """Mono reference audio -> audio latents (1, channels, frames, mel bins) through the checkpoint's
    audio VAE encoder (stereo by duplication, resampled to its 16 kHz by ltx-core)."""
    import torch
    from ltx_core.model.audio_vae import encode_audio
    from ltx_core.types import Audio

    param = next(audio_encoder.parameters())
    wave = torch.from_numpy(np.asarray(samples, dtype=np.float32))[None, None].repeat(1, 2, 1)
    with torch.no_grad():
        return encode_audio(Audio(waveform=wave.to(param.device), sampling_rate=rate), audio_encoder).float().cpu()


def decode_audio(latent: Any, audio_decoder: Any, vocoder: Any) -> tuple[np.ndarray, int]:
    """Audio latents (1, channels, frames, mel bins) -> mono waveform through the audio VAE decoder
    and the vocoder (with bandwidth extension), and its sample rate."""
    import torch
    from ltx_core.model.audio_vae import decode_audio as ltx_decode

    param = next(audio_decoder.parameters())
    with torch.no_grad():
        audio = ltx_decode(latent.to(device=param.device, dtype=param.dtype), audio_decoder, vocoder)
    wave = audio.waveform.float().cpu().numpy()
    return (wave.mean(axis=0) if wave.ndim == 2 else wave).astype(np.float32), int(audio.sampling_rate)


class LTXModels:
    """The parts of one checkpoint every arm shares (text path, audio VAE, vocoder) and the
    transformer of the current arm (rebuilt with ltx-core's builder when the arm changes)."""

    def __init__(
        self,
        model_path: Path,
        device: str = "cpu",
        dtype: Any = None,
        text_seed: int = 0,
        text_encoder: TextEncoder | None = None,
        gemma_root: Path | None = None,
    ) -> None:
        import torch

        ensure_torchaudio_importable()
        self.model_path = Path(model_path)
        self.device = device
        self.dtype = dtype or torch.float32
        parts = load_ltx_components(
            self.model_path,
            device=device,
            components=("embeddings_processor", "audio_encoder", "audio_decoder", "vocoder"),
            dtype=self.dtype,
            gemma_root=gemma_root,
        )
        self.processor = parts["embeddings_processor"]
        self.audio_encoder = parts["audio_encoder"]
        self.audio_decoder = parts["audio_decoder"]
        self.vocoder = parts["vocoder"]
        self.text_encoder: TextEncoder = text_encoder or random_text_encoder(self.processor, seed=text_seed)
        self.audio_channels, self.mel_bins = audio_latent_layout(self.audio_encoder)
        self._arm: tuple[Path | None, float] | None = None
        self._transformer: Any = None
        self._contexts: dict[str, TextContext] = {}

    def transformer(self, lora: Path | None, strength: float) -> Any:
        key = (Path(lora) if lora is not None and strength != 0 else None, strength if lora is not None else 0.0)
        if key != self._arm:
            self._transformer = None  # free the previous arm's weights before building the next
            lora, strength = key
            self._transformer = load_transformer(
                self.model_path, self.device, self.dtype, [(lora, strength)] if lora is not None else []
            ).requires_grad_(False)
            self._arm = key
        return self._transformer

    def set_context(self, prompt: str, video_features: Any, audio_features: Any, mask: Any) -> TextContext:
        """Use precomputed text features (e.g. the encode stage's conditions file of this caption)
        for ``prompt`` instead of the text encoder."""
        ctx = context_from_features(self.processor, video_features, audio_features, mask, self.device, self.dtype)
        self._contexts[prompt] = ctx
        return ctx

    def context(self, prompt: str) -> TextContext:
        if prompt not in self._contexts:
            self._contexts[prompt] = encode_prompt(self.text_encoder, self.processor, prompt, self.device, self.dtype)
        return self._contexts[prompt]


def audio_latent_layout(audio_encoder: Any) -> tuple[int, int]:
    """(channels, mel bins) of this checkpoint's audio latents, read off a short silent encode."""
    lat = encode_reference(np.zeros(8000, np.float32), 16000, audio_encoder)
    return int(lat.shape[1]), int(lat.shape[3])


DURATION_TOLERANCE_S = 0.1  # the causal audio decoder returns up to ~3 mel frames less than asked


class LTXGenerator:
    """The sweep's :class:`~ltxvoice.evaluate.sweep.Generator` on LTX-2.3: generates a batch of
    seeds for an arm, decodes each generation's audio (reference tokens dropped first) and returns
    the decoded audio - all of it generated - with the video latents."""

    def __init__(
        self,
        models: LTXModels,
        shape: Shape,
        params: EvalSamplerParams,
        placement: Placement = "negative",
        gap_s: float = 0.0,
    ) -> None:
        self.models, self.shape, self.params = models, shape, params
        self.placement, self.gap_s = placement, gap_s
        self._references: dict[tuple[float, bytes], Any] = {}

    @property
    def text_source(self) -> str:
        return self.models.text_encoder.source

    def reference_latent(self, reference: Any) -> Any:
        key = (reference.tone_hz, hashlib.sha256(np.ascontiguousarray(reference.samples).tobytes()).digest())
        if key not in self._references:
            self._references[key] = encode_reference(reference.samples, reference.rate, self.models.audio_encoder)
        return self._references[key]

    def generate(self, arm: Any, prompt: str, seeds: Sequence[int], reference: Any | None) -> list[Any]:
        from ltxvoice.evaluate.sweep import Output

        m = self.models
        cfg = self.params.cfg_video != 1.0 or self.params.cfg_audio != 1.0
        latents = generate(
            m.transformer(arm.lora, arm.strength),
            self.shape,
            m.audio_channels,
            m.mel_bins,
            m.context(prompt),
            m.context(self.params.negative_prompt) if cfg else None,
            seeds,
            self.params,
            reference=self.reference_latent(reference) if reference is not None else None,
            placement=self.placement,
            gap_s=self.gap_s,
            device=m.device,
            dtype=m.dtype,
        )
        outputs = []
        for lat in latents:
            wave, rate = decode_audio(lat.audio, m.audio_decoder, m.vocoder)
            seconds = wave.size / rate
            if abs(seconds - self.shape.seconds) > DURATION_TOLERANCE_S:
                raise ValueError(
                    f"decoded audio is {seconds:.3f} s for a {self.shape.seconds:.3f} s generation: "
                    "only the generated span may be decoded and measured"
                )
            outputs.append(
                Output(seed=lat.seed, waveform=wave, rate=rate, span_s=(0.0, seconds), video_latent=lat.video.numpy())
            )
        return outputs
