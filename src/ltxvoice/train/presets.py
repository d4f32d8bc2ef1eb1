"""Which linear layers of the LTX-2.3 transformer a LoRA adapts (groups of module names:
:func:`ltxvoice.models.lora_file.module_group`).

Module names are those of ltx-core's ``LTXModel`` (``transformer_blocks.<i>.<attn>.<proj>``), which
are also the LoRA file's keys after the ``diffusion_model.`` prefix. A preset is a list of regular
expressions that must match a whole module name (peft's string ``target_modules`` semantics).

The presets follow the three seed recipes:

- ``helium`` (audio-only IC-LoRA): the audio stack only - ``audio_attn1``/``audio_attn2`` q, k, v,
  out.0 plus ``audio_ff.net.0.proj`` and ``audio_ff.net.2``: 10 modules, 20 tensors per block,
  960 tensors on the 48-block model.
- ``register`` (whisper / soft-spoken): every projection that writes to the audio branch -
  ``audio_attn1``, ``audio_attn2`` and ``video_to_audio_attn`` (q, k, v, out.0).
- ``talking_head`` (AV character): ``to_k``, ``to_q``, ``to_v``, ``to_out.0`` on every attention
  of the transformer (video, audio and both cross-modal bridges).

The per-head gate projection (``to_gate_logits``) is left out of every preset on purpose: it is not
one of the seeds' targets, and NaNs in gate LoRA weights are a published failure of LTX LoRAs.
"""

from __future__ import annotations

import re

_BLOCK = r"transformer_blocks\.\d+\."
_QKVO = r"(to_q|to_k|to_v|to_out\.0)"

PRESETS: dict[str, tuple[str, ...]] = {
    "helium": (
        _BLOCK + r"audio_attn[12]\." + _QKVO,
        _BLOCK + r"audio_ff\.net\.(0\.proj|2)",
    ),
    "register": (_BLOCK + r"(audio_attn1|audio_attn2|video_to_audio_attn)\." + _QKVO,),
    "talking_head": (
        _BLOCK + r"(attn1|attn2|audio_attn1|audio_attn2|audio_to_video_attn|video_to_audio_attn)\." + _QKVO,
    ),
}

# Modules per block each preset adapts (each contributes a lora_A and a lora_B tensor).
MODULES_PER_BLOCK = {"helium": 10, "register": 12, "talking_head": 24}


def target_patterns(preset: str, custom: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The regexes of a preset, or the user's own list for ``preset: custom``."""
    if preset == "custom":
        if not custom:
            raise ValueError("preset 'custom' needs at least one target_modules pattern")
        return tuple(custom)
    if preset not in PRESETS:
        raise ValueError(f"unknown LoRA preset {preset!r}; choose from {sorted(PRESETS)} or 'custom'")
    return PRESETS[preset]


def target_regex(patterns: tuple[str, ...] | list[str]) -> str:
    """One regex for peft (``re.fullmatch`` over module names) that matches any of ``patterns``."""
    for p in patterns:
        re.compile(p)  # a bad pattern fails here with re.error, before any model work
    return "|".join(f"(?:{p})" for p in patterns)


def matches(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a module name is targeted (whole-name match, as peft does)."""
    return re.fullmatch(target_regex(patterns), name) is not None
