"""runner: what the job does around its stages (the stages themselves: test_cli, test_resume, ...)."""

from __future__ import annotations

import gc

import pytest

from har_inventory.runner import relaxed_gc


def test_relaxed_gc_raises_the_young_threshold_and_restores_it_even_on_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with relaxed_gc(gen0=12_345):
            assert gc.get_threshold() == (12_345, *before[1:])
            raise RuntimeError("a stage failed")
    assert gc.get_threshold() == before


def test_relaxed_gc_never_lowers_a_threshold_set_higher_by_the_caller():
    before = gc.get_threshold()
    gc.set_threshold(50_000, *before[1:])
    try:
        with relaxed_gc(gen0=10_000):
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)


def test_relaxed_gc_leaves_automatic_collection_off_when_the_caller_switched_it_off():
    before = gc.get_threshold()
    gc.set_threshold(0, *before[1:])
    try:
        with relaxed_gc():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
