"""Thin Prefect tasks around ``ltxvoice`` library calls (one module per stage).

Importing this package points Prefect at a project-local home (``.prefect/``) and its embedded,
ephemeral API unless the environment already says otherwise, so nothing needs a server.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("PREFECT_HOME", str(PROJECT_ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_UI_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
# One line per finished task would drown the progress bar; task warnings and errors still show.
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
