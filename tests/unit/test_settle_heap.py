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


def test_settling_the_heap_turns_the_collector_back_on_after_start_up_turned_it_off() -> None:
    gc.disable()  # as serve does while it imports and builds
    try:
        settle_heap()
        assert gc.isenabled(), "serve would otherwise never collect a cycle again"
    finally:
        gc.enable()
        gc.unfreeze()
