"""Thin Prefect tasks around ``ltxvoice`` library calls (one module per stage).

Importing this package points Prefect at a project-local home (``.prefect/`` in the folder the
pipeline runs from, where dvc.yaml is) and its embedded, ephemeral API, unless the environment
already says otherwise, so nothing needs a server. It first caps the numerical libraries' CPU
kernels (``ltxvoice.kernels``), before any of them loads, so stages give the same bits on any x86-64.
"""

import os
from pathlib import Path

from ltxvoice import kernels

kernels.pin()

os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_UI_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
# One line per finished task would drown the progress bar; task warnings and errors still show.
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
# The embedded API server starts in a few seconds on an idle machine; on a busy 2-core one (CI, several
# stages at once) Prefect's default 20 s wait is too short and the flow dies before doing any work.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
