"""The pace: even spacing with no burst at start; halves on 429, climbs back, never above the ceiling."""

import asyncio

import pytest

from har_inventory.pacing import MIN_RATE, Pacer


def test_no_burst_at_start():
    async def go():
        pacer = Pacer(20.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stamps = []
        for _ in range(5):
            await pacer.wait()
            stamps.append(loop.time() - t0)
        return stamps

    stamps = asyncio.run(go())
    # 5 requests at 20/s take at least 4 intervals of 50 ms: never 5 at once.
    assert stamps[-1] >= 0.19
    assert all(b - a >= 0.04 for a, b in zip(stamps, stamps[1:]))


def test_adapts_down_on_429_and_back_up_to_the_ceiling_only():
    changes = []
    pacer = Pacer(10.0, on_change=lambda old, new, why: changes.append((old, new)))
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate == pytest.approx(2.5)
    for _ in range(1000):
        pacer.succeeded()
    assert pacer.rate == pytest.approx(10.0)
    assert max(new for _, new in changes) == pytest.approx(10.0)
    for _ in range(50):
        pacer.throttled()
    assert pacer.rate == pytest.approx(MIN_RATE)


def test_rejects_non_positive_rate():
    with pytest.raises(ValueError):
        Pacer(0)
