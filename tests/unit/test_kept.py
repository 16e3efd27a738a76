"""What a server process keeps of what it read recently (``core.kept``)."""

from eventsvc.core.kept import Kept


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_for_its_seconds_then_dropped():
    clock = Clock()
    kept = Kept(clock)
    kept.put("a", 1, seconds=30, limit=10)
    clock.now += 29.9
    assert kept.get("a") == 1
    clock.now += 0.1
    assert kept.get("a") is None and "a" not in kept and len(kept) == 0


def test_at_most_limit_values_are_kept_the_oldest_going_first():
    kept = Kept(Clock())
    for key in "abc":
        kept.put(key, key.upper(), seconds=30, limit=2)
    assert "a" not in kept and kept.get("b") == "B" and kept.get("c") == "C"
    kept.put("b", "B2", seconds=30, limit=2)  # put again: the newest now
    kept.put("d", "D", seconds=30, limit=2)
    assert "c" not in kept and kept.get("b") == "B2" and kept.get("d") == "D"


def test_nothing_is_kept_with_no_room_and_forgotten_values_are_gone():
    kept = Kept(Clock())
    kept.put("a", 1, seconds=30, limit=0)
    assert len(kept) == 0
    kept.put("a", 1, seconds=30, limit=5)
    kept.forget("a")
    kept.forget("missing")
    assert kept.get("a") is None
    kept.put("b", 2, seconds=30, limit=5)
    kept.clear()
    assert len(kept) == 0
