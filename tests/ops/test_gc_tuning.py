"""ops/gc_tuning.py: the collector's thresholds and the frozen startup objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ops.gc_tuning import GEN1, GEN2, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_tune_gc_freezes_startup_objects_and_raises_the_thresholds(restore_gc: None) -> None:
    gc.unfreeze()
    tune_gc(12_345)
    assert gc.get_threshold() == (12_345, GEN1, GEN2)
    assert gc.get_freeze_count() > 1000  # the modules and objects of this test session


def test_zero_keeps_pythons_settings(restore_gc: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_cyclic_garbage_is_still_collected(restore_gc: None) -> None:
    tune_gc(1_000)
    collected_before = sum(s["collected"] for s in gc.get_stats())
    for _ in range(20_000):
        a: list[object] = []
        a.append(a)  # a cycle only the collector frees
    assert sum(s["collected"] for s in gc.get_stats()) - collected_before >= 10_000
