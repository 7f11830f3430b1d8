"""Every party-store test runs against both back ends (tests/state/backends.py)."""

from __future__ import annotations

import pytest

from tests.state.backends import BACKENDS


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The party store's back end: "memory" (dicts) or "rocksdb" (TableBatch, real RocksDB)."""
    return str(request.param)
