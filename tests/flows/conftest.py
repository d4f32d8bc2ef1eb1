from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """Flows under test talk to a throwaway Prefect API (temporary database), not the project's."""
    with prefect_test_harness(server_startup_timeout=120):
        yield
