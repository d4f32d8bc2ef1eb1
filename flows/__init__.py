"""Prefect flows, one per stage (``python -m flows.<stage>`` is each dvc.yaml stage's command)."""

import tasks  # noqa: F401  (sets the project-local Prefect home before Prefect is used)
