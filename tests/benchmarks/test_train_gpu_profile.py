"""The training-step profile: kernel groups, busy/idle time from kernel intervals, the report, and a
tiny profiled run on CPU (the GPU profile itself is in benchmarks/results/train_gpu_profile.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks import script


def _load():
    return script("train_gpu_profile")


@pytest.mark.parametrize(
    ("name", "group"),
    [  # names as the GPU runs' profiler reported them (torch 2.11, cuDNN, inductor), and CPU operators
        ("nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_TNT", "matmul_bf16"),
        ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "matmul_bf16"),
        (
            "void cutlass::device_kernel<at::cuda::detail::enable_3x_kernel_for_sm9x<cutlass::float_e4m3_t>>",
            "matmul_fp8",
        ),
        ("nvjet_sm90_qqtst_128x128_128x6_1x1_h_bz_coopA_algo2_ovscale_TNT", "matmul_fp8"),  # as the H100 run named it
        ("cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_26_64x64x128", "attention"),
        ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4>>", "attention"),
        ("triton_red_fused__to_copy_abs_amax_clamp_div_7", "quantise"),
        ("triton_poi_fused__to_copy_clamp_div_float8_e4m3fn_3", "quantise"),
        ("triton_poi_fused_add_mul_rms_norm_12", "norm_elementwise"),
        ("triton_tem_fused_mm_4", "matmul_bf16"),
        ("void at::native::multi_tensor_apply_kernel<at::native::FusedAdamMathFunctor<float, 4>>", "optimizer"),
        ("Memcpy HtoD (Pinned -> Device)", "memcpy"),
        ("Memset (Device)", "memset"),
        ("void at::native::vectorized_layer_norm_kernel<c10::BFloat16, float, true>", "norm_elementwise"),
        ("aten::mm", "matmul_bf16"),
        ("aten::_scaled_mm", "matmul_fp8"),
        ("aten::_scaled_dot_product_flash_attention_for_cpu_backward", "attention"),
        ("aten::_foreach_add_", "optimizer"),
        ("aten::mul", "norm_elementwise"),
    ],
)
def test_kernel_groups(name: str, group: str) -> None:
    prof = _load()
    assert prof.kernel_group(name) == group
    assert group in prof.GROUPS


def test_busy_time_counts_overlaps_once_and_idle_is_the_rest() -> None:
    prof = _load()
    assert prof.union_us([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25
    assert prof.union_us([]) == 0
    events = [  # 2 steps of 100 ms wall: 60 ms matmul + 20 ms attention overlapping 10 ms of it + 5 ms memcpy
        ("nvjet_a", 0.0, 60_000.0),
        ("flash_fwd", 50_000.0, 20_000.0),
        ("Memcpy HtoD", 80_000.0, 5_000.0),
        ("nvjet_a", 100_000.0, 60_000.0),
        ("flash_fwd", 150_000.0, 20_000.0),
        ("Memcpy HtoD", 180_000.0, 5_000.0),
    ]
    s = prof.summarize_events(events, wall_ms=200.0, steps=2)
    assert s["step_ms"] == 100.0 and s["kernels_per_step"] == 3
    assert s["groups"]["matmul_bf16"]["ms_per_step"] == pytest.approx(60.0)
    assert s["groups"]["attention"]["share"] == pytest.approx(0.2)
    assert s["groups"]["memcpy"]["ms_per_step"] == pytest.approx(5.0)
    assert s["busy_ms_per_step"] == pytest.approx(75.0) and s["idle_ms_per_step"] == pytest.approx(25.0)
    assert s["idle_share"] == pytest.approx(0.25)
    assert [k["name"] for k in s["top_kernels"]] == ["nvjet_a", "flash_fwd", "Memcpy HtoD"]
    assert s["top_kernels"][0]["calls_per_step"] == 1


def test_report_names_every_group_and_the_idle_share(tmp_path: Path) -> None:
    prof = _load()
    s = prof.summarize_events([("nvjet_a", 0.0, 50_000.0)], wall_ms=100.0, steps=1)
    s["timed_step_ms"] = 90.0
    s["resident"] = {"allocated_gib": 1.1, "largest": [{"dtype": "bfloat16", "shape": [4, 4], "count": 2, "gib": 0.5}]}
    rows = [
        {"name": "cfg", "shape": "helium", "batch": 8, "knobs": "ckpt 0", "samples_per_s": 8.0, "profile": s},
        {"name": "unprofiled", "shape": "helium", "batch": 1, "knobs": "ckpt 1"},
    ]
    prof.write(rows, {"gpu": "NVIDIA H200", "gpus": 1}, "python x", tmp_path)
    md = (tmp_path / "train_gpu_profile.md").read_text()
    assert "| matmul/bf16 | 50.0 ms (50.0%) |" in md and "| **GPU idle** | 50.0 ms (50.0%) |" in md
    assert "| timed step (no profiler) | 90.0 ms |" in md and "| resident before step 1 | 1.1 GiB |" in md
    assert "unprofiled" not in md and "bfloat16 [4, 4] x2: 0.50" in md
    data = json.loads((tmp_path / "train_gpu_profile.json").read_text())
    assert [r["name"] for r in data["rows"]] == ["cfg"] and data["environment"]["command"] == "python x"


@pytest.mark.slow
def test_tiny_profiled_run(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    prof = _load()
    assert prof.main(["--tiny", "--configs", "helium_b1_lowmem", "--profile-steps", "1", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "train_gpu_profile.json").read_text())["rows"]
    p = row["profile"]
    assert row["status"] == "ok" and p["activity"] == "cpu" and p["steps"] == 1
    assert p["groups"]["matmul_bf16"]["ms_per_step"] > 0 and p["groups"]["attention"]["ms_per_step"] > 0
    assert sum(g["share"] for g in p["groups"].values()) + p["idle_share"] <= 1.05
    assert "`helium_b1_lowmem`" in (tmp_path / "train_gpu_profile.md").read_text()


def test_regroup_moves_a_top_kernel_that_an_older_classifier_misfiled() -> None:
    prof = _load()
    fp8 = "nvjet_sm90_qqtst_128x128_128x6_1x1_h_bz_coopA_algo2_ovscale_TNT"
    bf16 = "nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_TNT"
    groups = {g: {"ms_per_step": 0.0, "share": 0.0} for g in prof.GROUPS}
    groups["matmul_bf16"] = {"ms_per_step": 50.0, "share": 0.5}
    profile = {
        "step_ms": 100.0,
        "groups": groups,
        "top_kernels": [  # as a run before the "qq" rule recorded them
            {"name": fp8, "group": "matmul_bf16", "calls_per_step": 3, "ms_per_step": 30.0, "share": 0.3},
            {"name": bf16, "group": "matmul_bf16", "calls_per_step": 1, "ms_per_step": 15.0, "share": 0.15},
        ],
    }
    fixed = prof.regroup(profile)
    assert fixed["groups"]["matmul_fp8"] == {"ms_per_step": 30.0, "share": 0.3}
    assert fixed["groups"]["matmul_bf16"] == {"ms_per_step": 20.0, "share": 0.2}
    assert [k["group"] for k in fixed["top_kernels"]] == ["matmul_fp8", "matmul_bf16"]
    assert fixed["regrouped"] == [fp8]
    assert profile["groups"]["matmul_bf16"]["ms_per_step"] == 50.0  # the input is left as it was
    assert prof.regroup(fixed) == fixed  # nothing left to move
