"""Flow of stage ``demo``: reproducible demo talking clips from nothing (see ltxvoice.demo)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import finish, run_flow, stage_params
from ltxvoice import demo as lib
from ltxvoice.config import DemoParams
from ltxvoice.media import ffmpeg_version
from ltxvoice.stage import StageError, StageResult, prepare_output_dir, versions
from tasks.common import run_mapped
from tasks.demo import make_clip


@flow(name="demo")
def demo(params_path: str = "params.yaml", out: str = "data/demo/sources") -> dict:
    """Generate the demo sources: espeak-ng speech muxed with an audio-driven face, plus labels."""
    params, cfg = stage_params(params_path, DemoParams)
    out_dir = prepare_output_dir(Path(out), "demo")
    items = lib.plan(cfg)
    made = run_mapped(make_clip, items, runner=params.runner, desc="demo: clips", params=cfg, out_dir=out_dir)
    errors = [r for r in made if isinstance(r, BaseException)]
    if errors:
        # The demo is generated, not user data: a failure here is a broken tool, not a bad input.
        raise StageError(f"{len(errors)} demo clip(s) could not be made, first: {errors[0]}")
    clips: list[lib.DemoClip] = made  # type: ignore[assignment]
    lib.write_labels(clips, out_dir / "labels.csv")
    bad = lib.write_bad_files(cfg, out_dir, out_dir / clips[0].file) if cfg.bad_files else {}
    tools = {**versions("ffmpeg-python", "numpy"), "ffmpeg": ffmpeg_version(), "espeak-ng": lib.espeak_version()}
    # The sources folder holds sources only: no table, quarantine or metrics beside them.
    return finish(
        out_dir,
        StageResult(
            "demo",
            cfg,
            tools,
            inputs=len(items),
            kept=len(clips),
            write_quarantine=False,
            write_metrics=False,
            extra={
                "broken_files_for_the_quarantine": len(bad),
                "men": sum(c.gender == "man" for c in clips),
                "women": sum(c.gender == "woman" for c in clips),
                "whispering": sum(c.manner.startswith("whispering") for c in clips),
            },
        ),
    )


if __name__ == "__main__":
    sys.exit(run_flow(demo, "demo"))
