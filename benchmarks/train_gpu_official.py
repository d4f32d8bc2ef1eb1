#!/usr/bin/env python
"""The official LTX-2 trainer's training step on the full-size LTX-2.3 transformer (random bf16 weights).

The other arm of ``benchmarks/train_gpu_vs_official.py``, which runs it in its own process with the
official packages first on ``sys.path``:

    python benchmarks/train_gpu_official.py --fetch .official           # here: read the public repository
    PYTHONPATH=.official/ltx-core:.official/ltx-trainer \\
        python benchmarks/train_gpu_official.py --config-json cfg.json --out result.json

``--fetch`` copies ``packages/ltx-core/src/ltx_core`` and ``packages/ltx-trainer/src/ltx_trainer`` of
https://github.com/Lightricks/LTX-2 (or a local clone given as ``--source``) into a git-ignored folder,
with the commit in ``COMMIT``; nothing of it is committed here.

What runs is the official code path of ``LtxTrainer._training_step`` and its loop, piece by piece:
``LTXModelConfigurator`` builds the model (ltx-core 1.2), PEFT's ``LoraConfig`` / ``get_peft_model`` with
the trainer's settings (``init_lora_weights=True``, the target modules of its ``a2a_ic_lora.yaml``:
the audio attention and feed-forward of every block, rank 32, alpha 32, dropout 0),
``set_gradient_checkpointing`` as ``optimization.enable_gradient_checkpointing``, accelerate's
``Accelerator(mixed_precision="bf16")`` preparing the model and AdamW (lr 2e-4), the
``FlexibleStrategy`` (its recommended strategy) with the ``ShiftedLogitNormalTimestepSampler`` default,
``prepare_training_inputs`` -> ``model(video=, audio=, perturbations=None)`` -> ``compute_loss`` ->
``accelerator.backward(loss.mean())`` -> ``clip_grad_norm_(max 1.0)`` -> ``step`` -> ``zero_grad`` and the
loss read back each step. Two parts of the loop are left out, in both arms alike: the Gemma text
connectors (the batch holds prompt contexts at the connector output widths, unmasked, as in
``train_gpu.py``) and the data loader (the batch is resident on the GPU). The LR scheduler is left out
(a scalar update per step). The trainer's 8-bit options (optimum-quanto ``int8-quanto`` /
``fp8-quanto`` weights, bitsandbytes ``adamw8bit``) need packages that are not installed on the
benchmark machine, so they are not measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_REPO = "https://github.com/Lightricks/LTX-2"
# a2a_ic_lora.yaml's LoRA targets (audio-to-audio IC-LoRA): the same 10 modules x 48 blocks as the
# project's helium preset
TARGET_MODULES = [
    "audio_attn1.to_k",
    "audio_attn1.to_q",
    "audio_attn1.to_v",
    "audio_attn1.to_out.0",
    "audio_attn2.to_k",
    "audio_attn2.to_q",
    "audio_attn2.to_v",
    "audio_attn2.to_out.0",
    "audio_ff.net.0.proj",
    "audio_ff.net.2",
]
PROMPT_TOKENS = 1024


def fetch(dest: Path, source: str) -> str:
    """Copy the official ltx_core and ltx_trainer packages into ``dest``; returns the commit."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "LTX-2"
        subprocess.run(["git", "clone", "-q", "--depth", "1", source, str(clone)], check=True)
        commit = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
        if dest.exists():
            shutil.rmtree(dest)
        for package, name in (("ltx-core", "ltx_core"), ("ltx-trainer", "ltx_trainer")):
            shutil.copytree(clone / "packages" / package / "src" / name, dest / package / name)
            shutil.copy(clone / "packages" / package / "pyproject.toml", dest / package / "pyproject.toml")
    (dest / "COMMIT").write_text(f"{source} {commit}\n")
    return commit


def _free() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _peaks(device: Any) -> tuple[float | None, float | None]:
    import torch

    if device.type != "cuda":
        return None, None
    return torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30


class Official:
    """The official model, LoRA and strategies on one GPU (the model is built once)."""

    def __init__(self, ltx_config: dict[str, Any], device: Any) -> None:
        import torch
        from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
        from peft import LoraConfig, get_peft_model

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from train_gpu import fill_random_  # the same random weights as the project's arm

        self.device = device
        started = time.perf_counter()
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        try:
            with torch.device("meta"):
                model = LTXModelConfigurator.from_metadata({"config": ltx_config})
        finally:
            torch.set_default_dtype(previous)
        model = fill_random_(model.to_empty(device=device), device, seed=0).to(dtype=torch.bfloat16)
        lora = LoraConfig(r=32, lora_alpha=32, target_modules=TARGET_MODULES, lora_dropout=0.0, init_lora_weights=True)
        self.model = get_peft_model(model, lora)
        self.base = self.model.get_base_model()
        self.n_lora = sum(1 for n, _ in self.model.named_parameters() if ".lora_" in n)
        self.build_s = time.perf_counter() - started
        print(f"[official] model ready in {self.build_s:.1f} s, {self.n_lora} LoRA tensors", flush=True)

    def strategy(self, shape: dict[str, Any]) -> Any:
        from ltx_trainer.training_strategies.flexible import (
            FirstFrameConditionConfig,
            FlexibleStrategy,
            FlexibleStrategyConfig,
            ModalityConfig,
            ReferenceConditionConfig,
        )

        video_conditions = (
            [FirstFrameConditionConfig(probability=shape["first_frame_p"])] if shape["first_frame_p"] > 0 else []
        )
        audio_conditions = (
            [ReferenceConditionConfig(latents_dir="reference_audio_latents")] if shape["reference_steps"] else []
        )
        return FlexibleStrategy(
            FlexibleStrategyConfig(
                video=ModalityConfig(is_generated=True, latents_dir="video_latents", conditions=video_conditions),
                audio=ModalityConfig(is_generated=True, latents_dir="audio_latents", conditions=audio_conditions),
            )
        )

    def batch(self, shape: dict[str, Any], b: int, seed: int) -> dict[str, Any]:
        """One batch in the layout the trainer's PrecomputedDataset yields (collated), on the GPU."""
        import torch

        g = torch.Generator().manual_seed(seed)

        def rnd(*size: int) -> Any:
            return torch.randn(*size, generator=g).to(torch.bfloat16).to(self.device)

        def full(v: float) -> Any:
            return torch.full((b,), v).to(self.device)

        batch: dict[str, Any] = {
            "video_latents": {
                "latents": rnd(b, 128, shape["frames"], shape["height"], shape["width"]),
                "num_frames": full(shape["frames"]).long(),
                "height": full(shape["height"]).long(),
                "width": full(shape["width"]).long(),
                "fps": full(shape["fps"]),
            },
            "audio_latents": {"latents": rnd(b, 8, shape["audio_steps"], 16)},
            "conditions": {
                "video_prompt_embeds": rnd(1, PROMPT_TOKENS, self.base.inner_dim).expand(b, -1, -1),
                "audio_prompt_embeds": rnd(1, PROMPT_TOKENS, self.base.audio_inner_dim).expand(b, -1, -1),
                "prompt_attention_mask": None,  # connector output: no padding, unmasked (as in train_gpu.py)
            },
        }
        if shape["reference_steps"]:
            batch["reference_audio_latents"] = {"latents": rnd(b, 8, shape["reference_steps"], 16)}
        return batch

    def run(self, cfg: dict[str, Any], shape: dict[str, Any]) -> dict[str, Any]:
        import torch
        from accelerate import Accelerator
        from ltx_trainer.timestep_samplers import ShiftedLogitNormalTimestepSampler
        from torch.optim import AdamW

        strategy = self.strategy(shape)
        sampler = ShiftedLogitNormalTimestepSampler()
        self.base.set_gradient_checkpointing(cfg["checkpointing"])
        for name, p in self.model.named_parameters():  # a fresh LoRA per config (B = 0)
            if ".lora_B" in name:
                p.data.zero_()
        accelerator = Accelerator(mixed_precision="bf16", cpu=self.device.type == "cpu")
        model = accelerator.prepare(self.model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = accelerator.prepare(AdamW(params, lr=2e-4))
        batches = [self.batch(shape, cfg["batch"], seed=s) for s in range(2)]
        _sync(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times, losses = [], []
        status = "ok"
        try:
            for step in range(cfg["warmup"] + cfg["steps"]):
                torch.manual_seed(step)
                start = time.perf_counter()
                inputs = strategy.prepare_training_inputs(batches[step % 2], sampler)
                video_pred, audio_pred = model(video=inputs.video, audio=inputs.audio, perturbations=None)
                loss = strategy.compute_loss(video_pred, audio_pred, inputs)
                accelerator.backward(loss.mean())
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, 1.0)
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.detach().mean().item())  # the trainer reads the loss every step
                _sync(self.device)
                times.append(time.perf_counter() - start)
        except torch.OutOfMemoryError:
            status = "OOM"
        peak_alloc, peak_reserved = _peaks(self.device)
        del optimizer, batches
        accelerator.free_memory()
        _free()
        timed = times[cfg["warmup"] :]
        if status != "ok" or not timed:
            return {"status": status, "peak_alloc_gib": peak_alloc, "peak_reserved_gib": peak_reserved}
        step_s = sum(timed) / len(timed)
        return {
            "status": "ok",
            "samples_per_s": cfg["batch"] / step_s,
            "step_s": step_s,
            "first_step_s": times[0],
            "loss_first": losses[0],
            "loss_mean": sum(losses) / len(losses),
            "peak_alloc_gib": peak_alloc,
            "peak_reserved_gib": peak_reserved,
        }


def model_flops(ltx_config: dict[str, Any], shapes: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Model FLOPs of one sample (batch 1) per shape, counted by torch's FlopCounterMode on the meta
    device (shapes only: no memory, no GPU): the forward, and the backward of the LoRA loss (input
    gradients through the frozen base, LoRA weight gradients; no recomputation). On the H200 the
    helium forward counted on the GPU gave the same 34.25 TFLOP."""
    import dataclasses

    import torch
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
    from ltx_trainer.timestep_samplers import ShiftedLogitNormalTimestepSampler
    from peft import LoraConfig, get_peft_model
    from torch.utils.flop_counter import FlopCounterMode

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("meta"):
            model = LTXModelConfigurator.from_metadata({"config": ltx_config})
    finally:
        torch.set_default_dtype(previous)
    model = get_peft_model(model.requires_grad_(False), LoraConfig(r=32, lora_alpha=32, target_modules=TARGET_MODULES))
    arm = Official.__new__(Official)  # its strategy and batch, on CPU; the model only on meta
    arm.device, arm.model, arm.base = torch.device("cpu"), model, model.get_base_model()

    def to_meta(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to("meta")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(
                value, **{f.name: to_meta(getattr(value, f.name)) for f in dataclasses.fields(value)}
            )
        return value

    counts: dict[str, dict[str, float]] = {}
    for name, shape in shapes.items():
        strategy = arm.strategy(shape)
        torch.manual_seed(0)
        inputs = to_meta(
            strategy.prepare_training_inputs(arm.batch(shape, 1, seed=0), ShiftedLogitNormalTimestepSampler())
        )
        with FlopCounterMode(display=False) as forward:
            video_pred, audio_pred = model(video=inputs.video, audio=inputs.audio, perturbations=None)
        with FlopCounterMode(display=False) as backward:
            strategy.compute_loss(video_pred, audio_pred, inputs).mean().backward()
        f, b = float(forward.get_total_flops()), float(backward.get_total_flops())
        counts[name] = {"forward": f, "backward": b, "train_step": f + b}
    return counts


def worker(spec_path: Path, out_path: Path) -> int:
    """Run the configs of ``spec_path`` (JSON: ltx_config, shapes, configs, flops_shapes, budget_s)."""
    import torch

    sys.path.insert(0, str(ROOT / "src"))  # the torchaudio shim only: CPU torch next to PyPI's CUDA torchaudio
    from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

    ensure_torchaudio_importable()
    spec = json.loads(spec_path.read_text())
    started = time.perf_counter()
    flops = model_flops(spec["ltx_config"], {name: spec["shapes"][name] for name in spec["flops_shapes"]})
    print(f"[official] model FLOPs per sample: {json.dumps(flops)}", flush=True)
    if spec.get("flops_only"):
        out_path.write_text(json.dumps({"flops": flops, "rows": []}, indent=1))
        return 0
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    official = Official(spec["ltx_config"], device)
    result: dict[str, Any] = {"build_s": official.build_s, "lora_tensors": official.n_lora, "rows": [], "flops": flops}
    for cfg in spec["configs"]:
        elapsed = time.perf_counter() - started
        if elapsed > spec["budget_s"]:
            row = {"status": f"skipped: budget ({elapsed:.0f} s > {spec['budget_s']:.0f} s)"}
        else:
            try:
                row = official.run(cfg, spec["shapes"][cfg["shape"]])
            except Exception as exc:
                row = {"status": f"failed: {type(exc).__name__}: {exc}"[:300]}
        row = {**cfg, **row}
        print(f"[official] {json.dumps(row)}", flush=True)
        result["rows"].append(row)
        out_path.write_text(json.dumps(result, indent=1))
    import ltx_core

    result["ltx_core_path"] = str(Path(ltx_core.__file__).parent)
    out_path.write_text(json.dumps(result, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", type=Path, help="copy the official packages into this folder and exit")
    parser.add_argument("--source", default=OFFICIAL_REPO, help="git URL or path of the LTX-2 repository")
    parser.add_argument("--config-json", type=Path, help="what to run (written by train_gpu_vs_official.py)")
    parser.add_argument("--out", type=Path, help="result JSON")
    args = parser.parse_args(argv)
    if args.fetch:
        commit = fetch(args.fetch, args.source)
        print(f"official ltx-core and ltx-trainer at {commit} in {args.fetch}")
        return 0
    if not (args.config_json and args.out):
        parser.error("give --fetch DIR, or --config-json and --out")
    return worker(args.config_json, args.out)


if __name__ == "__main__":
    sys.exit(main())
