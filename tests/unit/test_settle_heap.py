"""serve freezes what start-up built out of the garbage collector's full collections (their pauses were the
tail of App Home and ack latencies)."""

from __future__ import annotations

import gc

from bot.cli.commands import settle_heap


def test_settling_the_heap_freezes_start_ups_objects_and_collects_its_garbage() -> None:
    gc.unfreeze()
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle only a collection frees
    del garbage
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000
        assert gc.get_count()[2] == 0  # a full collection just ran
        after_freeze = len(gc.get_objects(generation=2))
        assert after_freeze < gc.get_freeze_count()  # the oldest generation no longer holds start-up's objects
    finally:
        gc.unfreeze()
