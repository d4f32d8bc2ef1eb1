"""Speed and memory knobs for the frozen base of a LoRA run.

- Quantized frozen base (:func:`quantize_frozen_linears`): the transformer blocks' frozen linear
  weights are stored as FP8 (e4m3) or int8 with one scale per output row, and dequantised on the fly
  (half the memory of bf16). The LoRA branches (peft's ``lora_A``/``lora_B``) stay in full precision.
  The backward pass dequantises again instead of keeping a bf16 copy alive between forward and
  backward. With ``fp8_matmul`` on a CUDA GPU with FP8 tensor cores (Hopper/Ada) the forward matmul
  itself runs in FP8 through ``torch._scaled_mm`` (activations quantised per token), and with
  ``fp8_grad`` the backward's input-gradient matmul too (gradients quantised per token); on the
  48-block model the first block and the last five keep the dequantise path, as ltx-core's own FP8
  policy leaves them out.
- Selective gradient checkpointing and block offload (:func:`install_block_runner`): a chosen share
  of the blocks recompute their activations in backward, and within those blocks the attention
  outputs can be kept (``keep="attention"``: the one op whose recomputation grows with the square of
  the sequence, so long video sequences recompute only the linear layers and the cheap pointwise
  ops); with offload, the frozen tensors of every block live in (pinned) CPU memory and are copied to
  the GPU just for that block's forward (and its recomputation), so only one block's weights are
  resident at a time.
- ``torch.compile`` per block (:func:`compile_blocks`, one compiled graph shared by all 48 blocks) and
  the attention kernel (:func:`set_attention`; ``cudnn`` puts cuDNN's fused attention first in
  PyTorch's SDPA, which on Hopper is faster than the FlashAttention-2 kernel SDPA picks by default).

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
        """y = x @ deq(W).T + b; the backward dequantises W again (nothing bf16 is kept), or with
        ``fp8_grad`` computes the input gradient as an FP8 matmul too."""

        @staticmethod
        def forward(ctx: Any, x: Any, q: Any, scale: Any, bias: Any, fp8_matmul: bool, fp8_grad: bool) -> Any:
            ctx.save_for_backward(q, scale)
            ctx.dtype = x.dtype
            ctx.fp8_grad = fp8_grad
            if fp8_matmul:
                y = _fp8_matmul(x, q, scale)
            else:
                y = torch.nn.functional.linear(x, _dequantize(q, scale, x.dtype))
            return y if bias is None else y + bias.to(y.dtype)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            q, scale = ctx.saved_tensors
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad = grad.to(ctx.dtype)
                if ctx.fp8_grad:
                    grad_x = _fp8_grad_matmul(grad, q, scale)
                else:
                    grad_x = grad @ _dequantize(q, scale, ctx.dtype)
            return grad_x, None, None, None, None, None

    return DequantLinear


_FUNCTION: Any = None


def _rowwise_fp8_mm(a: Any, b8: Any, b_scale: Any, out_dtype: Any) -> Any:
    """``a`` [M, K] (any float) times the FP8 matrix ``b8`` [K, N] (column-major) with per-column
    scales ``b_scale`` [1, N]: ``a`` is quantised to e4m3 per row, then one FP8 tensor-core matmul."""
    import torch

    a_scale = (a.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp(min=1e-12)
    a8 = (a.float() / a_scale).to(torch.float8_e4m3fn)
    rows = a8.shape[0]
    pad = (-rows) % 16
    if pad:
        a8 = torch.nn.functional.pad(a8.view(torch.uint8), (0, 0, 0, pad)).view(torch.float8_e4m3fn)
        a_scale = torch.nn.functional.pad(a_scale, (0, 0, 0, pad), value=1.0)
    y = torch._scaled_mm(a8, b8, scale_a=a_scale, scale_b=b_scale.float(), out_dtype=out_dtype)
    return y[:rows] if pad else y


def _fp8_matmul(x: Any, q: Any, scale: Any) -> Any:
    """x [.., K] (bf16) times an FP8 weight [N, K] with row scales, as one FP8 tensor-core matmul."""
    shape = x.shape
    y = _rowwise_fp8_mm(x.reshape(-1, shape[-1]), q.t(), scale.t().contiguous(), x.dtype)
    return y.reshape(*shape[:-1], q.shape[0])


def _fp8_grad_matmul(grad: Any, q: Any, scale: Any) -> Any:
    """The input gradient ``grad [.., N] @ deq(W)`` as an FP8 matmul. W's row scales run along the
    contraction, so they are folded into the gradient first (g * s), which is then quantised per row;
    W itself is used as stored, copied into the column-major layout the kernel wants (1 byte per
    element, freed right after)."""
    import torch

    shape = grad.shape
    g = grad.reshape(-1, shape[-1]).float() * scale.float().t()
    b8 = q.t().contiguous().t()  # [N, K] column-major
    ones = torch.ones(1, q.shape[1], device=q.device, dtype=torch.float32)
    y = _rowwise_fp8_mm(g, b8, ones, grad.dtype)
    return y.reshape(*shape[:-1], q.shape[1])


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
            self.fp8_grad = False  # the input gradient as an FP8 matmul too (set_fp8_matmul)
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
            use_mm = (
                self.fp8_matmul
                and dtype == torch.bfloat16  # row-scaled FP8 matmuls write bf16
                and self.in_features % 16 == 0
                and self.out_features % 16 == 0
            )
            with torch.autocast(x.device.type, enabled=False):
                return _FUNCTION.apply(
                    x.to(dtype), self.qweight, self.scale, self.bias, use_mm, use_mm and self.fp8_grad
                )

        def extra_repr(self) -> str:
            return (
                f"in={self.in_features}, out={self.out_features}, {self.kind}, fp8_matmul={self.fp8_matmul}, "
                f"fp8_grad={self.fp8_grad}"
            )

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


def quantize_frozen_linears(
    model: Any, kind: Literal["fp8", "int8"], fp8_matmul: bool, device: Any, num_blocks: int, fp8_grad: bool = False
) -> int:
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
        assert idx is not None  # targets are block linears (filtered above)
        eligible = (
            num_blocks < 4 * (FP8_MATMUL_SKIP_FIRST + FP8_MATMUL_SKIP_LAST)  # small test models: all
            or FP8_MATMUL_SKIP_FIRST <= idx < num_blocks - FP8_MATMUL_SKIP_LAST
        )
        parent_name, attr = name.rsplit(".", 1)
        parent = model.get_submodule(parent_name)
        replacement = cls(module, kind, fp8_matmul and eligible, device)
        replacement.matmul_eligible = eligible
        replacement.fp8_grad = bool(fp8_grad and replacement.fp8_matmul)
        setattr(parent, attr, replacement)
        del module
    return len(targets)


def set_fp8_matmul(model: Any, enabled: bool, grad: bool = False) -> int:
    """Switch the FP8 tensor-core matmuls of every eligible FP8 :class:`QuantizedLinear` on or off:
    the forward's, and with ``grad`` the backward's input-gradient matmul as well."""
    cls = quantized_linear_class()
    n = 0
    for module in model.modules():
        if isinstance(module, cls) and module.kind == "fp8":
            module.fp8_matmul = bool(enabled and module.matmul_eligible)
            module.fp8_grad = bool(grad and module.fp8_matmul)
            n += int(module.fp8_matmul)
    return n


def checkpointed_blocks(num_blocks: int, share: float) -> frozenset[int]:
    """Indices of the blocks that recompute activations: ``share`` of them, spread evenly."""
    if share >= 1:
        return frozenset(range(num_blocks))
    picked = {i for i in range(num_blocks) if math.floor((i + 1) * share) > math.floor(i * share)}
    return frozenset(picked)


class BlockOffload:
    """Keeps each transformer block's frozen tensors on the CPU between uses (see module docstring).

    A block's tensors are copied to the device by a forward pre-hook and dropped by a forward hook.
    The recomputation in backward does not always reach that forward hook: PyTorch's non-reentrant
    checkpoint stops a recomputation as soon as the tensors the backward needs exist. So loading a
    block first drops every other block still on the device (``loaded``), which keeps one block
    resident at a time in backward too (without it, every block's weights piled up over the backward
    pass: the whole FP8 base, 17 GiB on the 48-block model)."""

    def __init__(self, blocks: Any, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        self.pin = self.device.type == "cuda"
        self.homes: list[list[tuple[Any, Any]]] = []
        self.handles: list[Any] = []
        self.loaded: set[int] = set()
        self.loads = 0
        for index, block in enumerate(blocks):
            tensors = [p for p in block.parameters() if not p.requires_grad] + [b for b in block.buffers()]
            home = []
            for t in tensors:
                cpu = t.data.detach().to("cpu")
                if self.pin:
                    cpu = cpu.pin_memory()
                t.data = cpu
                home.append((t, cpu))
            self.homes.append(home)
            self.handles.append(block.register_forward_pre_hook(self._loader(index)))
            self.handles.append(block.register_forward_hook(self._unloader(index)))

    def load(self, index: int) -> None:
        """Copy block ``index``'s frozen tensors to the device, dropping any other block's first."""
        for other in sorted(self.loaded - {index}):
            self.unload(other)
        for t, cpu in self.homes[index]:
            t.data = cpu.to(self.device, non_blocking=self.pin)
        self.loaded.add(index)
        self.loads += 1

    def unload(self, index: int) -> None:
        """Point block ``index``'s frozen tensors back at their CPU copies (the device copies are
        freed once nothing else, e.g. a tensor saved for backward, holds them)."""
        for t, cpu in self.homes[index]:
            t.data = cpu
        self.loaded.discard(index)

    def _loader(self, index: int) -> Any:
        def hook(_module: Any, _args: Any) -> None:
            self.load(index)

        return hook

    def _unloader(self, index: int) -> Any:
        def hook(_module: Any, _args: Any, _out: Any) -> None:
            self.unload(index)

        return hook

    def remove(self) -> None:
        for index in sorted(self.loaded):
            self.unload(index)
        for h in self.handles:
            h.remove()


Keep = Literal["nothing", "attention"]


def _attention_ops() -> frozenset[Any]:
    """The aten attention kernels SDPA dispatches to (whichever exist in this torch build)."""
    import torch

    names = (
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
    )
    return frozenset(getattr(torch.ops.aten, n).default for n in names if hasattr(torch.ops.aten, n))


def checkpoint_context(keep: Keep) -> Any:
    """The ``context_fn`` for ``torch.utils.checkpoint``: None recomputes everything; ``attention``
    saves the outputs of the attention kernels (with their log-sum-exp) and recomputes the rest."""
    import functools

    if keep == "nothing":
        return None
    if keep != "attention":
        raise ValueError(f"checkpoint keep must be nothing or attention, not {keep!r}")
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    saved = _attention_ops()

    def policy(_ctx: Any, op: Any, *_args: Any, **_kwargs: Any) -> Any:
        return CheckpointPolicy.MUST_SAVE if op in saved else CheckpointPolicy.PREFER_RECOMPUTE

    return functools.partial(create_selective_checkpoint_contexts, policy)


def install_block_runner(
    ltx: Any, checkpoint_share: float, offload: BlockOffload | None = None, keep: Keep = "nothing"
) -> frozenset[int]:
    """Replace ``ltx._process_transformer_blocks`` (per instance) with a loop that recomputes only the
    chosen blocks in backward (keeping what ``keep`` names, see :func:`checkpoint_context`). Block
    offload needs every block recomputed (its weights leave the GPU after the forward), so
    ``checkpoint_share`` must then be 1. Returns the recomputed blocks."""
    import torch

    blocks = checkpointed_blocks(len(ltx.transformer_blocks), checkpoint_share)
    if offload is not None and len(blocks) != len(ltx.transformer_blocks):
        raise ValueError("block offload needs gradient checkpointing on every block (gradient_checkpointing: 1.0)")
    context = checkpoint_context(keep)
    extra = {} if context is None else {"context_fn": context}

    def run(self: Any, video: Any, audio: Any, perturbations: Any) -> tuple[Any, Any]:
        if perturbations is not None and blocks_compiled(self):
            raise ValueError("compiled blocks share one index: STG perturbations need uncompile_blocks() first")
        for i, block in enumerate(self.transformer_blocks):
            if self.training and i in blocks and torch.is_grad_enabled():
                video, audio = torch.utils.checkpoint.checkpoint(
                    block, video, audio, perturbations, use_reentrant=False, **extra
                )
            else:
                video, audio = block(video=video, audio=audio, perturbations=perturbations)
        return video, audio

    ltx._process_transformer_blocks = types.MethodType(run, ltx)
    return blocks


class CudnnFirstAttention:
    """ltx-core's PyTorch attention with cuDNN's fused kernel first in SDPA's order.

    SDPA still checks each backend's constraints and falls through (FlashAttention-2, memory-efficient,
    math), so masked calls and CPU runs work unchanged. The choice is made in the forward; the backward
    (and a checkpointed block's recomputation, which runs this again) uses the same kernel."""

    def __init__(self) -> None:
        from ltx_core.model.transformer.attention import PytorchAttention

        self.sdpa = PytorchAttention()

    def __call__(self, q: Any, k: Any, v: Any, heads: int, mask: Any = None) -> Any:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = [
            SDPBackend.CUDNN_ATTENTION,
            SDPBackend.FLASH_ATTENTION,
            SDPBackend.EFFICIENT_ATTENTION,
            SDPBackend.MATH,
        ]
        with sdpa_kernel(order, set_priority=True):
            return self.sdpa(q, k, v, heads, mask)


ATTENTION_KINDS = ("default", "pytorch", "cudnn", "xformers", "flash_attention_3")


def attention_function(kind: str) -> Any:
    """The attention callable of ``kind``: ltx-core's (default | pytorch | xformers | flash_attention_3)
    or ``cudnn`` (:class:`CudnnFirstAttention`).

    ltx-core's enum creates a new callable object on every call; its classes derive from
    ``typing.Protocol``, whose first instantiation rewrites the class. Under ``torch.compile`` that
    rewrite is a side effect Dynamo guards on (a recompilation), so the callable is made once here."""
    from ltx_core.model.transformer import attention as ltx_attention

    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {', '.join(ATTENTION_KINDS)}, not {kind!r}")
    if kind == "cudnn":
        return CudnnFirstAttention()
    if kind == "default":
        kind = "xformers" if ltx_attention.memory_efficient_attention is not None else "pytorch"
    classes = {
        "pytorch": ltx_attention.PytorchAttention,
        "xformers": ltx_attention.XFormersAttention,
        "flash_attention_3": ltx_attention.FlashAttention3,
    }
    return classes[kind]()


def set_attention(ltx: Any, kind: str) -> None:
    """Use the attention of ``kind`` (see :func:`attention_function`) in every attention layer."""
    from ltx_core.model.transformer.attention import Attention

    function = attention_function(kind)
    for module in ltx.modules():
        if isinstance(module, Attention):
            module.attention_function = function


def compile_blocks(ltx: Any, backend: Any = "inductor") -> None:
    """``torch.compile`` each transformer block in place (module names, and so LoRA keys, are unchanged).

    Every block runs the same code on the same shapes; only its weights (graph inputs) and its integer
    ``idx`` differ. Dynamo bakes integer module attributes into the graph, so each of the 48 blocks
    would compile on its own (4 minutes on an H200), and past the recompile limit the rest would
    silently run eagerly. ``idx`` only tells a block whether an STG perturbation applies to it;
    training never perturbs (the block runner refuses perturbations while compiled), so every block
    gets the same index here and one compiled graph per input shape serves all of them.
    :func:`uncompile_blocks` restores the real indices. ``backend`` is torch.compile's (tests count
    graphs with their own)."""
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
    for block in ltx.transformer_blocks:
        if not hasattr(block, "_ltxvoice_idx"):
            block._ltxvoice_idx = block.idx
        block.idx = 0
        block.compile(dynamic=False, backend=backend)


def uncompile_blocks(ltx: Any) -> None:
    """Undo :func:`compile_blocks` (the blocks run eagerly again, with their own indices)."""
    for block in ltx.transformer_blocks:
        block._compiled_call_impl = None
        if hasattr(block, "_ltxvoice_idx"):
            block.idx = block._ltxvoice_idx
            del block._ltxvoice_idx


def blocks_compiled(ltx: Any) -> bool:
    """Whether :func:`compile_blocks` is in effect."""
    return any(getattr(block, "_compiled_call_impl", None) is not None for block in ltx.transformer_blocks)
