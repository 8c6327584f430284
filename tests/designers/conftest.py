from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Expensive tests run only when asked for (``-m expensive``), as in ``tests/rl``."""
    if "expensive" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="expensive: run with -m expensive")
    for item in items:
        if "expensive" in item.keywords:
            item.add_marker(skip)
