"""What a person sees in the Prefect UI, in a real browser (headless Chromium, Debian's `chromium`).

A real `ltxvoice server`, the pipeline registered with its nightly cron schedule by `ltxvoice serve`
(over a tiny DVC project whose params are the project's ops section: deployment `scheduled`,
`0 3 * * *`), a run triggered through the REST API as the UI's "Run" button does, executed by that
serve process. The rendered pages (JavaScript run, DOM dumped) must list the deployment and its
schedule, show the run Completed and list the pipeline report artifact. Screenshots of the
deployments page and of the finished run land in the test's tmp folder; with
LTXV_UI_SCREENSHOTS=<folder> small copies are also written there (how docs/ui/ was made).

Run with `.venv/bin/python -m pytest -m ui` (about a minute on 2 cores).
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import dvcrepo, prefectstack

pytestmark = pytest.mark.ui

CRON = "0 3 * * *"
CRON_TEXT = "At 03:00 AM every day"  # how the Prefect UI writes that schedule
DEPLOYMENT = "scheduled"  # the name params.yaml's ops section gives it


class _Text(html.parser.HTMLParser):
    """The visible text of a dumped DOM (no scripts, no styles), whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(dom: str) -> str:
    parser = _Text()
    parser.feed(dom)
    return " ".join(" ".join(parser.parts).split())


@dataclass
class Browser:
    """Debian's chromium in headless mode, one process per page, in its own process group."""

    binary: str
    profile: Path
    log: Path

    def _run(self, *args: str, timeout: float = 90) -> str:
        argv = [
            self.binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={self.profile}",
            "--virtual-time-budget=15000",
            "--window-size=1400,900",
            *args,
        ]
        with self.log.open("a") as log:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=timeout)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if proc.returncode != 0:
            raise AssertionError(f"chromium {args[-1]} exited {proc.returncode}; log:\n{self.log.read_text()[-3000:]}")
        return out

    def text(self, url: str) -> str:
        """The page's visible text once its scripts have run."""
        return visible_text(self._run("--dump-dom", url))

    def screenshot(self, url: str, path: Path) -> Path:
        self._run(f"--screenshot={path}", url)
        assert path.is_file() and path.stat().st_size > 10_000, f"chromium wrote no screenshot of {url}"
        return path

    def text_with(self, url: str, wanted: list[str], timeout: float = 120) -> str:
        """The page's text once it shows every string in ``wanted`` (the UI polls the API, so a page
        rendered a moment too early may still say "Running")."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text(url)
            missing = [w for w in wanted if w not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} does not show {missing}; it shows:\n{text[:3000]}")
            time.sleep(2)


RETRYABLE = 503  # what the Prefect server answers for errors it rolled back (SQLite busy, a timeout)
TRIES = 6


def _api(api: str, method: str, path: str, body: Any = None) -> Any:
    """One REST call, as the UI (and Prefect's own client) makes it: a 503 is the server saying "try
    again" (its handler for retryable errors rolled the request back), so it is retried with backoff;
    any other error, or a 503 after ``TRIES`` attempts, fails the test."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(TRIES):
        request = urllib.request.Request(
            f"{api}{path}", method=method, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as reply:  # noqa: S310 - the local test server
                return json.load(reply)
        except urllib.error.HTTPError as err:
            if err.code != RETRYABLE or attempt == TRIES - 1:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


@pytest.fixture()
def browser(tmp_path: Path) -> Browser:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("the UI tests need Debian's chromium (/usr/bin/chromium): run ./setup.sh, which installs it")
    return Browser(binary, tmp_path / "chromium-profile", tmp_path / "chromium.log")


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """(project, UI base URL, log folder): `ltxvoice server` on a free port and `ltxvoice serve` of a
    tiny project with a nightly cron schedule, both stopped (process groups) afterwards."""
    project = dvcrepo.make_repo(tmp_path / "project")
    dvcrepo.set_param(project, "ops", "deployment", DEPLOYMENT)
    dvcrepo.set_param(project, "ops", "cron", CRON)
    dvcrepo.set_param(project, "ops", "interval_minutes", None)
    dvcrepo.commit(project, "nightly schedule")
    port = prefectstack.free_port()
    ui = f"http://127.0.0.1:{port}"
    home = tmp_path / "prefect-home"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            prefectstack.cli(
                "server", "--port", str(port), cwd=project, env=prefectstack.env(home), log=tmp_path / "server.log"
            )
        )
        prefectstack.wait(
            "the server",
            lambda: urllib.request.urlopen(f"{ui}/api/health", timeout=5).status == 200,
            240,
            tmp_path / "server.log",
        )
        serve_env = prefectstack.env(home, PREFECT_RUNNER_POLL_FREQUENCY="1")
        procs.append(
            prefectstack.cli("serve", "--api-url", f"{ui}/api", cwd=project, env=serve_env, log=tmp_path / "serve.log")
        )
        yield project, ui, tmp_path
    finally:
        for proc in reversed(procs):
            prefectstack.stop(proc)


def _small_copy(shot: Path, folder: Path) -> Path:
    """A palette PNG copy (a UI screenshot has few colours): a few tens of KB instead of ~100."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / shot.name
    with Image.open(shot) as image:
        image.convert("RGB").quantize(colors=64).save(out, optimize=True)
    return out


def test_the_scheduled_deployment_and_a_finished_run_are_seen_in_the_ui(
    served: tuple[Path, str, Path], browser: Browser
) -> None:
    project, ui, logs = served
    api = f"{ui}/api"

    # registered by `ltxvoice serve` with the cron schedule of params.ops
    dep = prefectstack.wait(
        "`ltxvoice serve` to register the deployment",
        lambda: _api(api, "GET", f"/deployments/name/pipeline/{DEPLOYMENT}"),
        180,
        logs / "serve.log",
    )
    assert isinstance(dep, dict)
    assert [s["schedule"].get("cron") for s in dep["schedules"]] == [CRON]

    page = browser.text_with(f"{ui}/deployments", [DEPLOYMENT, CRON_TEXT])
    assert "1 Deployment" in page and "pipeline" in page and "Ready" in page, page[:2000]
    shots = logs / "screenshots"
    shots.mkdir()
    deployments_png = browser.screenshot(f"{ui}/deployments", shots / "deployments.png")

    # a run started as the UI's "Run" button starts it; the serve process picks it up and runs it
    run = _api(api, "POST", f"/deployments/{dep['id']}/create_flow_run", {})

    def finished() -> dict[str, Any] | None:
        state = _api(api, "GET", f"/flow_runs/{run['id']}")
        return state if state["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    done = prefectstack.wait("the triggered run to finish", finished, 180, logs / "serve.log")
    assert isinstance(done, dict)
    assert done["state"]["type"] == "COMPLETED", (done["state"], (logs / "serve.log").read_text()[-3000:])
    assert dvcrepo.runs(project) == ["count", "score", "other"]  # dvc repro really ran in the workspace

    run_url = f"{ui}/runs/flow-run/{run['id']}"
    page = browser.text_with(run_url, [done["name"], "Completed"])
    assert "Flow pipeline" in page and f"Deployment {DEPLOYMENT}" in page, page[:2000]
    run_png = browser.screenshot(run_url, shots / "flow-run.png")

    page = browser.text_with(f"{ui}/artifacts", ["pipeline-run", "Stages that ran or were skipped"])
    assert "Stages that ran or were skipped, and the metric changes" in page, page[:2000]
    (artifact,) = _api(
        api,
        "POST",
        "/artifacts/filter",
        {"artifacts": {"key": {"any_": ["pipeline-run"]}, "flow_run_id": {"any_": [run["id"]]}}},
    )
    report = browser.text_with(
        f"{ui}/artifacts/artifact/{artifact['id']}",  # the report rendered: what ran and why
        ["3 stage(s) ran, 0 up to date", "count ran step.py: modified", "score ran", "other ran"],
        timeout=90,  # each try renders the page anew; a loaded 2-core machine needs more than one
    )
    assert "Metric changes" in report and "out/score.json score - 9 -" in report, report[:2000]

    if os.environ.get("LTXV_UI_SCREENSHOTS"):
        for shot in (deployments_png, run_png):
            copy = _small_copy(shot, Path(os.environ["LTXV_UI_SCREENSHOTS"]))
            assert copy.stat().st_size < 300_000
