"""Training strategies: how a batch of clean latents becomes the transformer's inputs and targets.

Both strategies generate video and audio jointly (flow matching on both, one sigma per sample):

- ``text_to_av`` (register, talking head): text-to-audio+video. With probability ``first_frame_p``
  per sample the first latent frame is given clean (timestep 0) and left out of the loss
  (image-to-video conditioning).
- ``audio_reference`` (helium IC-LoRA): as above, plus the clip's reference audio latents appended
  to the audio sequence *clean* (timestep 0) and never in the loss. ``placement: negative`` puts the
  reference on the RoPE timeline before the target (ending ``gap_s`` before 0: the ID-LoRA / Dub-It
  convention, out-of-timeline context); ``overlap`` starts it at 0 like the target (the official
  trainer's audio reference). Tokens are ordered ``[target | reference]`` as ltx-core's
  ``AudioConditionByReferenceLatent`` appends them at inference.

Text contexts arrive already through the connectors (see :class:`ltxvoice.train.data.TextCache`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ltxvoice.train.flow_matching import masked_mse, noised, sample_sigmas

VIDEO_LATENT_CHANNELS = 128
AUDIO_LATENT_CHANNELS = 8
AUDIO_MEL_BINS = 16


@dataclass(frozen=True)
class StrategySpec:
    """A strategy and its knobs (also written into the LoRA file's metadata)."""

    name: Literal["audio_reference", "text_to_av"]
    first_frame_p: float = 0.0
    reference_placement: Literal["negative", "overlap"] = "negative"
    reference_gap_s: float = 0.04
    timestep_sampling: Literal["shifted_logit_normal", "uniform"] = "shifted_logit_normal"
    logit_std: float = 1.0
    uniform_share: float = 0.1

    @property
    def uses_reference(self) -> bool:
        return self.name == "audio_reference"

    def metadata(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.uses_reference:
            out.pop("reference_placement")
            out.pop("reference_gap_s")
        else:
            out["token_order"] = "target_then_reference"
            out["reference_timestep"] = 0.0
        return out


@dataclass
class ModelInputs:
    """What one forward pass needs, plus the targets and loss masks of the generated tokens."""

    video: Any  # ltx_core Modality
    audio: Any  # ltx_core Modality
    video_target: Any  # [B, Tv, 128] fp32
    audio_target: Any  # [B, Ta, 128] fp32 (target tokens only; reference tokens follow them)
    video_loss_mask: Any  # [B, Tv] bool
    audio_loss_mask: Any  # [B, Ta] bool
    sigma: Any  # [B]
    reference_tokens: int


def video_positions(frames: int, height: int, width: int, batch: int, fps: float, device: Any) -> Any:
    """RoPE bounds [B, 3, F*H*W, 2] of patchified video latents: time in seconds, pixel y and x."""
    from ltx_core.components.patchifiers import VideoLatentPatchifier, get_pixel_coords
    from ltx_core.types import SpatioTemporalScaleFactors, VideoLatentShape

    coords = VideoLatentPatchifier(patch_size=1).get_patch_grid_bounds(
        VideoLatentShape(batch=batch, channels=VIDEO_LATENT_CHANNELS, frames=frames, height=height, width=width),
        device=device,
    )
    pixels = get_pixel_coords(coords, SpatioTemporalScaleFactors.default(), causal_fix=True).float()
    pixels[:, 0] = pixels[:, 0] / fps
    return pixels


def audio_positions(steps: int, batch: int, device: Any) -> Any:
    """RoPE bounds [B, 1, T, 2] (seconds) of patchified audio latents, starting at 0."""
    from ltx_core.components.patchifiers import AudioPatchifier
    from ltx_core.types import AudioLatentShape

    return (
        AudioPatchifier(patch_size=1)
        .get_patch_grid_bounds(
            AudioLatentShape(batch=batch, channels=AUDIO_LATENT_CHANNELS, frames=steps, mel_bins=AUDIO_MEL_BINS),
            device=device,
        )
        .float()
    )


def reference_positions(steps: int, batch: int, device: Any, placement: str, gap_s: float) -> Any:
    """Reference audio bounds: ``overlap`` = from 0 like the target; ``negative`` = shifted so the
    reference ends ``gap_s`` seconds before the target timeline starts (all positions < 0)."""
    pos = audio_positions(steps, batch, device)
    if placement == "negative":
        pos = pos - (pos[:, :, -1, 1].amax() + gap_s)
    elif placement != "overlap":
        raise ValueError(f"unknown reference placement {placement!r}")
    return pos


def patchify_video(latents: Any) -> Any:
    """[B, C, F, H, W] -> [B, F*H*W, C] with ltx-core's own patchifier (patch size 1)."""
    from ltx_core.components.patchifiers import VideoLatentPatchifier

    return VideoLatentPatchifier(patch_size=1).patchify(latents)


def patchify_audio(latents: Any) -> Any:
    """[B, C, T, F] -> [B, T, C*F] with ltx-core's own patchifier."""
    from ltx_core.components.patchifiers import AudioPatchifier

    return AudioPatchifier(patch_size=1).patchify(latents)


def prepare_inputs(
    batch: dict[str, Any],
    video_context: Any,
    audio_context: Any,
    spec: StrategySpec,
    generator: Any,
    compute_dtype: Any,
) -> ModelInputs:
    """Noise a batch and build the two ``Modality`` inputs of ``LTXModel.forward``.

    ``batch``: ``video`` [B, 128, F, H, W], ``audio`` [B, 8, T, 16], ``fps``, and for
    ``audio_reference`` ``reference`` [B, 8, Tr, 16]. All draws (sigma, noise, first-frame choice)
    come from ``generator``. Timesteps are per token only where they differ (first-frame or
    reference tokens); otherwise one per sample, which the transformer broadcasts (same result)."""
    import torch
    from ltx_core.model.transformer.modality import Modality

    video_clean = patchify_video(batch["video"].float())
    audio_clean = patchify_audio(batch["audio"].float())
    b, tv, _ = video_clean.shape
    ta = audio_clean.shape[1]
    device = video_clean.device
    _, _, frames, height, width = batch["video"].shape

    sigma = sample_sigmas(b, tv, generator, device, spec.timestep_sampling, spec.logit_std, spec.uniform_share)
    video_in, video_target = noised(video_clean, sigma, generator)
    audio_in, audio_target = noised(audio_clean, sigma, generator)

    video_loss_mask = torch.ones(b, tv, dtype=torch.bool, device=device)
    video_t = sigma.view(b, 1)
    if spec.first_frame_p > 0:
        chosen = torch.rand(b, generator=generator, device=device) < spec.first_frame_p
        first = torch.zeros(b, tv, dtype=torch.bool, device=device)
        first[:, : height * width] = True
        cond = first & chosen.view(b, 1)
        video_in = torch.where(cond.unsqueeze(-1), video_clean, video_in)
        video_t = torch.where(cond, torch.zeros_like(video_in[..., 0]), sigma.view(b, 1).expand(b, tv))
        video_loss_mask = ~cond

    audio_loss_mask = torch.ones(b, ta, dtype=torch.bool, device=device)
    audio_t = sigma.view(b, 1)
    audio_pos = audio_positions(ta, b, device)
    reference_tokens = 0
    if spec.uses_reference:
        if "reference" not in batch:
            raise ValueError("strategy audio_reference needs reference audio latents in the batch")
        ref = patchify_audio(batch["reference"].float())
        reference_tokens = ref.shape[1]
        audio_in = torch.cat([audio_in, ref], dim=1)
        audio_t = torch.cat([sigma.view(b, 1).expand(b, ta), torch.zeros(b, reference_tokens, device=device)], dim=1)
        audio_pos = torch.cat(
            [
                audio_pos,
                reference_positions(reference_tokens, b, device, spec.reference_placement, spec.reference_gap_s),
            ],
            dim=2,
        )

    video = Modality(
        latent=video_in.to(compute_dtype),
        sigma=sigma,
        timesteps=video_t,
        positions=video_positions(frames, height, width, b, batch["fps"], device),
        context=video_context,
        context_mask=None,
    )
    audio = Modality(
        latent=audio_in.to(compute_dtype),
        sigma=sigma,
        timesteps=audio_t,
        positions=audio_pos,
        context=audio_context,
        context_mask=None,
    )
    return ModelInputs(
        video=video,
        audio=audio,
        video_target=video_target,
        audio_target=audio_target,
        video_loss_mask=video_loss_mask,
        audio_loss_mask=audio_loss_mask,
        sigma=sigma,
        reference_tokens=reference_tokens,
    )


def flow_loss(
    video_pred: Any, audio_pred: Any, inputs: ModelInputs, video_weight: float = 1.0, audio_weight: float = 1.0
) -> Any:
    """Per-sample loss [B]: weighted masked MSE of the velocities over the generated tokens only.

    Reference tokens (after the target audio tokens) and clean first-frame tokens never count."""
    ta = inputs.audio_target.shape[1]
    video = masked_mse(video_pred, inputs.video_target, inputs.video_loss_mask)
    audio = masked_mse(audio_pred[:, :ta], inputs.audio_target, inputs.audio_loss_mask)
    return video_weight * video + audio_weight * audio
