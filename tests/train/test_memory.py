"""Memory modes: quantized frozen base, block offload, selective checkpointing (CPU code paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxvoice.train.memory import (
    attention_function,
    checkpoint_context,
    checkpointed_blocks,
    compile_blocks,
    install_block_runner,
    quantized_linear_class,
    uncompile_blocks,
)
from tests.train.conftest import make_items, train_params


def test_checkpointed_block_choice() -> None:
    assert checkpointed_blocks(48, 1.0) == frozenset(range(48))
    assert checkpointed_blocks(48, 0.0) == frozenset()
    half = checkpointed_blocks(48, 0.5)
    assert len(half) == 24 and sorted(half)[:3] == [1, 3, 5]
    assert len(checkpointed_blocks(48, 0.25)) == 12


@pytest.mark.parametrize(("kind", "tol"), [("fp8", 0.08), ("int8", 0.02)])
def test_quantized_linear_matches_and_keeps_no_bf16_copy(kind: str, tol: float) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48).to(torch.bfloat16)
    q = quantized_linear_class()(linear, kind, False, "cpu")
    assert q.qweight.element_size() == 1 and q.qweight.shape == (48, 64)
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16, requires_grad=True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = q(x)
    assert not any(t.dtype == torch.bfloat16 and t.shape == (48, 64) for t in saved)  # no dequantised weight kept
    ref = linear(x)
    assert float((y - ref).detach().abs().max()) < tol * float(ref.detach().abs().max())
    g = torch.randn_like(ref)
    (gx,) = torch.autograd.grad(y, x, g)
    (gr,) = torch.autograd.grad(ref, x, g)
    assert float((gx - gr).abs().max()) < tol * float(gr.abs().max())


def test_fp8_matmul_path() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48).to(torch.bfloat16)
    q = quantized_linear_class()(linear, "fp8", True, "cpu")
    x = torch.randn(7, 64, dtype=torch.bfloat16)  # 7 rows: padded to 16 for the FP8 kernel
    ref = linear(x)
    assert float((q(x) - ref).detach().abs().max()) < 0.1 * float(ref.detach().abs().max())


def test_fp8_gradient_matmul_path() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48).to(torch.bfloat16)
    q = quantized_linear_class()(linear, "fp8", True, "cpu")
    x = torch.randn(7, 64, dtype=torch.bfloat16, requires_grad=True)
    g = torch.randn(7, 48, dtype=torch.bfloat16)
    (ref,) = torch.autograd.grad(linear(x), x, g)
    (upcast,) = torch.autograd.grad(q(x), x, g)  # fp8_grad off: W dequantised, bf16 matmul
    q.fp8_grad = True
    (fp8,) = torch.autograd.grad(q(x), x, g)
    assert not torch.equal(fp8, upcast)  # the FP8 kernel ran...
    assert float((fp8 - ref).abs().max()) < 0.08 * float(ref.abs().max())  # ...and agrees within e4m3 precision


def test_attention_kinds_and_checkpoint_policy() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 10, 64) for _ in range(3))
    ref = attention_function("pytorch")(q, k, v, 4)
    assert torch.equal(attention_function("cudnn")(q, k, v, 4), ref)  # no cuDNN on CPU: SDPA falls through
    assert torch.equal(attention_function("default")(q, k, v, 4), ref)
    with pytest.raises(ValueError, match="attention must be one of"):
        attention_function("flash")
    assert checkpoint_context("nothing") is None and callable(checkpoint_context("attention"))
    with pytest.raises(ValueError, match="nothing or attention"):
        checkpoint_context("everything")  # type: ignore[arg-type]


def _four_block_transformer() -> torch.nn.Module:
    from ltxvoice.models.ltx import build_transformer, tiny_ltx_config

    config = tiny_ltx_config()
    config["transformer"]["num_layers"] = 4
    ltx = build_transformer(config, device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in ltx.parameters():
            p.normal_(0.0, 0.05)
    return ltx.requires_grad_(False)


@pytest.mark.slow  # torch.compile on CPU: ~30 s
def test_compiled_blocks_share_one_graph() -> None:
    """48 blocks must not compile 48 times (nor run eagerly past Dynamo's recompile limit). torch 2.11
    (the H200's) specialised every block on its ``idx`` (64 compilations, 240 s, in
    benchmarks/results/train_gpu_s3_explore_1.md); newer torch may not, so this guards the count."""
    from ltxvoice.train.engine import unwrap
    from ltxvoice.train.lora import LoraSpec, add_lora
    from ltxvoice.train.presets import PRESETS

    model = add_lora(
        _four_block_transformer(),
        LoraSpec(rank=4, alpha=4.0, dropout=0.0, patterns=PRESETS["helium"], preset="helium"),
        seed=0,
    )
    ltx = unwrap(model)
    install_block_runner(ltx, 0.5)
    items = make_items(2)
    compiled: list[int] = []

    def counting_backend(gm: torch.fx.GraphModule, _inputs: list) -> object:
        compiled.append(len(gm.graph.nodes))
        return gm.forward

    def loss() -> torch.Tensor:
        from ltxvoice.train.data import TextCache
        from ltxvoice.train.engine import EngineOptions, forward_loss
        from ltxvoice.train.lora import LoraSpec as Spec
        from ltxvoice.train.strategies import StrategySpec

        text = TextCache()
        for item in items:
            text.put(
                item.clip_id,
                torch.randn(8, ltx.inner_dim, generator=torch.Generator().manual_seed(1)),
                torch.randn(8, ltx.audio_inner_dim, generator=torch.Generator().manual_seed(2)),
            )
        opts = EngineOptions(
            lora=Spec(rank=4, alpha=4.0, dropout=0.0, patterns=(), preset="helium"),
            strategy=StrategySpec("audio_reference"),
            mixed_precision="no",
        )
        return forward_loss(model, items, text, opts, torch.Generator().manual_seed(0), "cpu").mean()

    model.train()
    eager = loss()
    indices = [b.idx for b in ltx.transformer_blocks]
    compile_blocks(ltx, backend=counting_backend)
    assert float(loss()) == float(eager)  # the same numbers (the backend runs the captured graph as is)
    # block 0 sees inputs that need no gradient, the later ones inputs that do: two graphs, not four
    assert len(compiled) == 2, compiled
    with pytest.raises(ValueError, match="STG perturbations"):
        ltx._process_transformer_blocks(None, None, object())
    uncompile_blocks(ltx)
    assert [b.idx for b in ltx.transformer_blocks] == indices == [0, 1, 2, 3]


def _loss_and_grads(checkpoint: Path, **overrides: object) -> tuple[float, dict[str, torch.Tensor], object]:
    from ltxvoice.models.ltx import load_text_connectors, load_transformer
    from ltxvoice.train.data import TextCache
    from ltxvoice.train.engine import forward_loss
    from ltxvoice.train.trainer import engine_options, prepare_model

    params = train_params(**{"rank": 4, "alpha": 4.0, "mixed_precision": "bf16", **overrides})
    prepared = prepare_model(load_transformer(checkpoint, "cpu", torch.bfloat16), params, "cpu")
    with torch.no_grad():
        for name, p in prepared.model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    items = make_items(2)
    text = TextCache()
    text.fill(items, load_text_connectors(checkpoint, "cpu", torch.bfloat16), "cpu", torch.bfloat16)
    loss = forward_loss(
        prepared.model, items, text, engine_options(params), torch.Generator().manual_seed(0), "cpu"
    ).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in prepared.model.named_parameters() if p.requires_grad}
    return float(loss), grads, prepared


@pytest.mark.slow
def test_memory_modes_train_the_same_lora(tiny_checkpoint: Path) -> None:
    base_loss, base_grads, base = _loss_and_grads(tiny_checkpoint)
    assert base.quantized == 0 and base.checkpointed == frozenset({0, 1})  # type: ignore[attr-defined]

    loss, grads, _ = _loss_and_grads(tiny_checkpoint, gradient_checkpointing=0.0)
    assert loss == base_loss and all(torch.equal(grads[k], base_grads[k]) for k in grads)

    loss, grads, prepared = _loss_and_grads(tiny_checkpoint, offload_blocks=True)
    assert loss == base_loss and all(torch.equal(grads[k], base_grads[k]) for k in grads)
    assert prepared.offload is not None  # type: ignore[attr-defined]

    for same in ({"checkpoint_keep": "attention"}, {"attention": "cudnn"}):  # the same numbers, other kernels/memory
        loss, grads, _ = _loss_and_grads(tiny_checkpoint, **same)
        assert loss == base_loss and all(torch.equal(grads[k], base_grads[k]) for k in grads), same

    for kind, extra in (
        ("fp8", {}),
        ("int8", {}),
        ("fp8", {"fp8_matmul": True}),
        ("fp8", {"fp8_matmul": True, "fp8_grad": True}),
        ("fp8", {"offload_blocks": True}),
    ):
        loss, grads, prepared = _loss_and_grads(tiny_checkpoint, base_weights=kind, **extra)
        n_block_linears = 2 * (6 * 5 + 4)  # per block: 6 attentions x (q, k, v, out, gate) + 2 FFs x 2
        assert prepared.quantized == n_block_linears  # type: ignore[attr-defined]
        lora_layers = [m for n, m in prepared.model.named_modules() if n.endswith("lora_A")]  # type: ignore[attr-defined]
        assert len(lora_layers) == 20  # helium: the adapters themselves are never quantized
        assert abs(loss - base_loss) < 0.05 * abs(base_loss), (kind, extra)
        cos = torch.nn.functional.cosine_similarity(
            torch.cat([g.flatten() for g in grads.values()]), torch.cat([g.flatten() for g in base_grads.values()]), 0
        )
        assert float(cos) > 0.98, (kind, extra)


def test_block_offload_keeps_one_block_on_the_device_through_backward(tiny_checkpoint: Path) -> None:
    """The recomputation in backward may stop before a block's forward hook (PyTorch's non-reentrant
    checkpoint stops once backward's tensors exist): loading the next block drops the previous one, so
    one block stays loaded at a time, also in backward and after it."""
    from ltxvoice.train.memory import BlockOffload

    peak = [0]
    original = BlockOffload.load

    def load(self: BlockOffload, index: int) -> None:
        original(self, index)
        peak[0] = max(peak[0], len(self.loaded))

    BlockOffload.load = load  # type: ignore[method-assign]
    try:
        _loss, _grads, prepared = _loss_and_grads(tiny_checkpoint, offload_blocks=True, base_weights="fp8")
    finally:
        BlockOffload.load = original  # type: ignore[method-assign]
    offload = prepared.offload  # type: ignore[attr-defined]
    blocks = len(offload.homes)
    assert offload.loads == 2 * blocks  # each block: its forward and its recomputation
    assert peak[0] == 1 and len(offload.loaded) <= 1
    offload.remove()
    assert not offload.loaded
