"""The pace: even spacing with no burst at start; AIMD on 429s, never above the ceiling."""

import asyncio

import pytest

from har_inventory.pacing import MIN_RATE, Pacer


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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


def test_a_burst_of_429s_from_requests_already_in_flight_halves_the_pace_once():
    clock = Clock()
    changes = []
    pacer = Pacer(10.0, on_change=lambda old, new, why: changes.append((old, new, why)), clock=clock)
    ticket = pacer.epoch  # eight requests sent at the full pace...
    assert [pacer.throttled(ticket) for _ in range(8)] == [True] + [False] * 7  # ...all answered 429
    assert pacer.rate == pytest.approx(5.0)
    assert changes == [(10.0, 5.0, "rate limited (429)")]
    # A request sent at the new pace is answered 429 too, but within a second of the cut: no new cut.
    assert not pacer.throttled(pacer.epoch)
    clock.now += 1.0
    assert pacer.throttled(pacer.epoch) and pacer.rate == pytest.approx(2.5)


def test_the_pace_climbs_back_gradually_and_never_above_the_ceiling():
    clock = Clock()
    pacer = Pacer(100.0, clock=clock)
    for _ in range(6):
        clock.now += 1.0
        pacer.throttled()
    assert pacer.rate == pytest.approx(100 / 64)
    assert not pacer.succeeded()  # no change twice within a second...
    rates = []
    for _ in range(200):
        clock.now += 1.0
        pacer.succeeded()
        pacer.succeeded()  # ...however many answers come in it
        rates.append(pacer.rate)
    steps = [b - a for a, b in zip([100 / 64] + rates, rates)]
    assert steps[0] == pytest.approx(2.0)  # a fiftieth of the ceiling per second when low
    assert max(steps) <= 100 / 10 + 1e-9  # at most a tenth of the pace per second when high
    assert rates[-1] == pytest.approx(100.0) and max(rates) <= 100.0
    assert rates.index(100.0) < 40  # back to the ceiling within tens of seconds


def test_the_pace_has_a_floor():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    for _ in range(50):
        pacer.throttled()
        clock.now += 1.0
    assert pacer.rate == pytest.approx(MIN_RATE)


def test_rejects_non_positive_rate():
    with pytest.raises(ValueError):
        Pacer(0)


def test_late_wake_ups_do_not_slow_the_pace_down():
    clock = Clock()
    pacer = Pacer(50.0, clock=clock)
    start = clock.now
    sent = []
    for _ in range(500):  # one caller after the other, each waking 5 ms after its slot
        delay, _ = pacer.reserve()
        clock.now += delay + 0.005
        sent.append(clock.now)
    # 500 requests at 50/s span 499 intervals (+ the last wake-up's lateness), not 499 x (20 + 5) ms.
    assert sent[-1] - start == pytest.approx(499 / 50 + 0.005)
    assert min(b - a for a, b in zip(sent, sent[1:])) >= 0.02 - 1e-9


def test_idle_time_is_not_caught_up_later():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    pacer.reserve()
    clock.now += 30.0  # nothing to send for half a minute
    delays = [pacer.reserve()[0] for _ in range(4)]  # four callers at once
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3])  # one at a time, never a burst


def test_a_slow_down_moves_the_slots_already_reserved():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    reserved = [pacer.reserve() for _ in range(4)]  # slots now, +0.1, +0.2, +0.3 s
    assert pacer.throttled(reserved[0][1])
    assert pacer.rate == pytest.approx(5.0)
    assert not any(pacer.current(ticket) for _, ticket in reserved)  # all must reserve again
    delays = [pacer.reserve()[0] for _ in range(3)]
    assert delays == pytest.approx([0.2, 0.4, 0.6])  # at the new pace, one interval after the cut


def test_at_the_floor_further_429s_keep_the_slots_reserved():
    clock = Clock()
    pacer = Pacer(MIN_RATE, clock=clock)
    delay, ticket = pacer.reserve()
    clock.now += 1.0
    pacer.throttled(ticket)  # cannot go lower: the pace stays, so do the reservations
    assert pacer.rate == pytest.approx(MIN_RATE) and pacer.current(ticket)


def test_slots_that_come_due_together_after_a_stall_go_half_an_interval_apart():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    tickets = [pacer.reserve()[1] for _ in range(4)]  # slots now, +0.1, +0.2, +0.3 s
    clock.now += 0.5  # the event loop was stuck: all four are due when their holders wake up
    waits = [pacer.release(t) for t in tickets]
    assert waits == pytest.approx([0.0, 0.05, 0.1, 0.15])  # not four requests at once
    assert pacer.reserve()[0] == pytest.approx(0.0)  # and no debt: the next slot is now
