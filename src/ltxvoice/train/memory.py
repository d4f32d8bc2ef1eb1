"""Speed and memory knobs for the frozen base of a LoRA run.

- Quantized frozen base (:func:`quantize_frozen_linears`): the transformer blocks' frozen linear
  weights are stored as FP8 (e4m3) or int8 with one scale per output row, and dequantised on the fly
  (half the memory of bf16). The LoRA branches (peft's ``lora_A``/``lora_B``) stay in full precision.
  The backward pass dequantises again instead of keeping a bf16 copy alive between forward and
  backward. With ``fp8_matmul`` on a CUDA GPU with FP8 tensor cores (Hopper/Ada) the forward matmul
  itself runs in FP8 through ``torch._scaled_mm`` (activations quantised per token); on the 48-block
  model the first block and the last five keep the dequantise path, as ltx-core's own FP8 policy
  leaves them out.
- Selective gradient checkpointing and block offload (:func:`install_block_runner`): a chosen share
  of the blocks recompute their activations in backward; with offload, the frozen tensors of every
  block live in (pinned) CPU memory and are copied to the GPU just for that block's forward (and its
  recomputation), so only one block's weights are resident at a time.
- ``torch.compile`` per block and the attention kernel (:func:`set_attention`).

All of it runs on CPU too (the copies and kernels are then plain CPU ops), which is how the tests
exercise these code paths.
"""

from __future__ import annotations

import math
import types
from typing import Any, Literal

FP8_MAX = 448.0  # largest finite float8_e4m3fn
INT8_MAX = 127.0
FP8_MATMUL_SKIP_FIRST, FP8_MATMUL_SKIP_LAST = 1, 5


def _autocast_dtype(x: Any) -> Any:
    import torch

    kind = x.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return x.dtype


def _dequantize(q: Any, scale: Any, dtype: Any) -> Any:
    return q.to(dtype) * scale.to(dtype)


def _linear_function() -> Any:
    import torch

    class DequantLinear(torch.autograd.Function):
        """y = x @ deq(W).T + b; the backward dequantises W again (nothing bf16 is kept)."""

        @staticmethod
        def forward(ctx: Any, x: Any, q: Any, scale: Any, bias: Any, fp8_matmul: bool) -> Any:
            ctx.save_for_backward(q, scale)
            ctx.dtype = x.dtype
            if fp8_matmul:
                y = _fp8_matmul(x, q, scale)
            else:
                y = torch.nn.functional.linear(x, _dequantize(q, scale, x.dtype))
            return y if bias is None else y + bias.to(y.dtype)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            q, scale = ctx.saved_tensors
            grad_x = grad.to(ctx.dtype) @ _dequantize(q, scale, ctx.dtype) if ctx.needs_input_grad[0] else None
            return grad_x, None, None, None, None

    return DequantLinear


_FUNCTION: Any = None


def _fp8_matmul(x: Any, q: Any, scale: Any) -> Any:
    """x [.., K] (bf16) times an FP8 weight [N, K] with row scales, as one FP8 tensor-core matmul."""
    import torch

    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    x_scale = (x2.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp(min=1e-12)
    x8 = (x2.float() / x_scale).to(torch.float8_e4m3fn)
    pad = (-x8.shape[0]) % 16
    if pad:
        x8 = torch.nn.functional.pad(x8.view(torch.uint8), (0, 0, 0, pad)).view(torch.float8_e4m3fn)
        x_scale = torch.nn.functional.pad(x_scale, (0, 0, 0, pad), value=1.0)
    y = torch._scaled_mm(x8, q.t(), scale_a=x_scale, scale_b=scale.float().t().contiguous(), out_dtype=x.dtype)
    if pad:
        y = y[: x2.shape[0]]
    return y.reshape(*shape[:-1], q.shape[0])


def _make_module_class() -> Any:
    import torch

    class QuantizedLinear(torch.nn.Module):
        """A frozen ``nn.Linear`` whose weight is stored quantized (FP8 e4m3 or int8, per-row scale)."""

        def __init__(self, linear: Any, kind: Literal["fp8", "int8"], fp8_matmul: bool, device: Any) -> None:
            super().__init__()
            w = linear.weight.detach().to(device=device, dtype=torch.float32)
            limit = FP8_MAX if kind == "fp8" else INT8_MAX
            scale = (w.abs().amax(dim=1, keepdim=True) / limit).clamp(min=1e-12)
            if kind == "fp8":
                q = (w / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
            else:
                q = torch.round(w / scale).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.kind = kind
            self.fp8_matmul = bool(fp8_matmul and kind == "fp8")
            self.matmul_eligible = True  # quantize_frozen_linears clears it for the blocks kept out of FP8 matmuls
            self.register_buffer("qweight", q)
            self.register_buffer("scale", scale)
            bias = linear.bias.detach().to(device) if linear.bias is not None else None
            self.register_buffer("bias", bias)

        @property
        def weight(self) -> Any:  # peft and friends look for .weight (device/dtype checks)
            return self.qweight

        def forward(self, x: Any) -> Any:
            global _FUNCTION
            if _FUNCTION is None:
                _FUNCTION = _linear_function()
            dtype = _autocast_dtype(x)
            use_mm = (self.fp8_matmul and dtype == torch.bfloat16  # row-scaled FP8 matmuls write bf16
                      and self.in_features % 16 == 0 and self.out_features % 16 == 0)
            with torch.autocast(x.device.type, enabled=False):
                return _FUNCTION.apply(x.to(dtype), self.qweight, self.scale, self.bias, use_mm)

        def extra_repr(self) -> str:
            return f"in={self.in_features}, out={self.out_features}, {self.kind}, fp8_matmul={self.fp8_matmul}"

    return QuantizedLinear


_MODULE_CLASS: Any = None


def quantized_linear_class() -> Any:
    global _MODULE_CLASS
    if _MODULE_CLASS is None:
        _MODULE_CLASS = _make_module_class()
    return _MODULE_CLASS


def _block_index(name: str) -> int | None:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "transformer_blocks" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def quantize_frozen_linears(model: Any, kind: Literal["fp8", "int8"], fp8_matmul: bool, device: Any,
                            num_blocks: int) -> int:
    """Replace every frozen ``nn.Linear`` inside the transformer blocks of ``model`` (a peft-wrapped
    ``LTXModel``) with a :class:`QuantizedLinear` on ``device``. LoRA layers are never touched. Call
    it after adding the LoRA (peft must see real linear layers). Returns how many were replaced."""
    import torch

    cls = quantized_linear_class()
    targets = []
    for name, module in model.named_modules():
        if type(module) is not torch.nn.Linear or ".lora_" in name or _block_index(name) is None:
            continue
        if any(p.requires_grad for p in module.parameters()):
            continue
        targets.append((name, module))
    for name, module in targets:
        idx = _block_index(name)
        eligible = (num_blocks < 4 * (FP8_MATMUL_SKIP_FIRST + FP8_MATMUL_SKIP_LAST)  # small test models: all
                    or FP8_MATMUL_SKIP_FIRST <= idx < num_blocks - FP8_MATMUL_SKIP_LAST)
        parent_name, attr = name.rsplit(".", 1)
        parent = model.get_submodule(parent_name)
        replacement = cls(module, kind, fp8_matmul and eligible, device)
        replacement.matmul_eligible = eligible
        setattr(parent, attr, replacement)
        del module
    return len(targets)


def set_fp8_matmul(model: Any, enabled: bool) -> int:
    """Switch the FP8 tensor-core matmul of every eligible FP8 :class:`QuantizedLinear` on or off."""
    cls = quantized_linear_class()
    n = 0
    for module in model.modules():
        if isinstance(module, cls) and module.kind == "fp8":
            module.fp8_matmul = bool(enabled and module.matmul_eligible)
            n += int(module.fp8_matmul)
    return n


def checkpointed_blocks(num_blocks: int, share: float) -> frozenset[int]:
    """Indices of the blocks that recompute activations: ``share`` of them, spread evenly."""
    if share >= 1:
        return frozenset(range(num_blocks))
    picked = {i for i in range(num_blocks) if math.floor((i + 1) * share) > math.floor(i * share)}
    return frozenset(picked)


class BlockOffload:
    """Keeps each transformer block's frozen tensors on the CPU between uses (see module docstring)."""

    def __init__(self, blocks: Any, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        self.pin = self.device.type == "cuda"
        self.homes: list[list[tuple[Any, Any]]] = []
        self.handles: list[Any] = []
        for block in blocks:
            tensors = [p for p in block.parameters() if not p.requires_grad] + [b for b in block.buffers()]
            home = []
            for t in tensors:
                cpu = t.data.detach().to("cpu")
                if self.pin:
                    cpu = cpu.pin_memory()
                t.data = cpu
                home.append((t, cpu))
            self.homes.append(home)
            self.handles.append(block.register_forward_pre_hook(self._loader(home)))
            self.handles.append(block.register_forward_hook(self._unloader(home)))

    def _loader(self, home: list[tuple[Any, Any]]) -> Any:
        def hook(_module: Any, _args: Any) -> None:
            for t, cpu in home:
                t.data = cpu.to(self.device, non_blocking=self.pin)
        return hook

    @staticmethod
    def _unloader(home: list[tuple[Any, Any]]) -> Any:
        def hook(_module: Any, _args: Any, _out: Any) -> None:
            for t, cpu in home:
                t.data = cpu
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def install_block_runner(ltx: Any, checkpoint_share: float, offload: BlockOffload | None = None) -> frozenset[int]:
    """Replace ``ltx._process_transformer_blocks`` (per instance) with a loop that recomputes only the
    chosen blocks in backward. Block offload needs every block recomputed (its weights leave the
    GPU after the forward), so ``checkpoint_share`` must then be 1. Returns the recomputed blocks."""
    import torch

    blocks = checkpointed_blocks(len(ltx.transformer_blocks), checkpoint_share)
    if offload is not None and len(blocks) != len(ltx.transformer_blocks):
        raise ValueError("block offload needs gradient checkpointing on every block (gradient_checkpointing: 1.0)")

    def run(self: Any, video: Any, audio: Any, perturbations: Any) -> tuple[Any, Any]:
        for i, block in enumerate(self.transformer_blocks):
            if self.training and i in blocks and torch.is_grad_enabled():
                video, audio = torch.utils.checkpoint.checkpoint(block, video, audio, perturbations,
                                                                 use_reentrant=False)
            else:
                video, audio = block(video=video, audio=audio, perturbations=perturbations)
        return video, audio

    ltx._process_transformer_blocks = types.MethodType(run, ltx)
    return blocks


def set_attention(ltx: Any, kind: str) -> None:
    """Use ltx-core's attention backend ``kind`` (default | pytorch | xformers | flash_attention_3)."""
    from ltx_core.model.transformer.attention import Attention, AttentionFunction

    function = AttentionFunction(kind)
    for module in ltx.modules():
        if isinstance(module, Attention):
            module.attention_function = function


def compile_blocks(ltx: Any) -> None:
    """``torch.compile`` each transformer block in place (module names, and so LoRA keys, are unchanged)."""
    for block in ltx.transformer_blocks:
        block.compile(dynamic=False)


def uncompile_blocks(ltx: Any) -> None:
    """Undo :func:`compile_blocks` (the blocks run eagerly again)."""
    for block in ltx.transformer_blocks:
        block._compiled_call_impl = None
