"""Shared test policy: a test fails if anything logged at ERROR or above that it did not expect.

A test that expects an error log marks itself with ``@pytest.mark.allow_error_logs``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_error_logs: the test expects ERROR log records and checks them itself"
    )


@pytest.fixture(autouse=True)
def _fail_on_unexpected_error_logs(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [
        r for r in caplog.get_records("call") if r.levelno >= logging.ERROR
    ]
    if errors:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in errors)
        pytest.fail(f"unexpected ERROR log records:\n{lines}", pytrace=False)
