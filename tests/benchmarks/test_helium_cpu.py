import subprocess
import sys

import pytest

from tests.benchmarks import script

helium_cpu = script("helium_cpu")


def test_best_ratio_is_the_bare_chain_over_the_floor_spread_on_the_cores() -> None:
    # no media: two cores could run the bare chain's work in half its one-thread time
    assert helium_cpu.best_ratio(0.0, 0.1, 2) == pytest.approx(2.0)
    # 300 ms of ffmpeg per clip next to the bare chain's 100 ms, on 2 cores: 200 ms a clip at best, 0.5x
    assert helium_cpu.best_ratio(0.3, 0.1, 2) == pytest.approx(0.5)


def test_children_cpu_counts_a_finished_child_process() -> None:
    before = helium_cpu.children_cpu()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert helium_cpu.children_cpu() - before > 0.05
