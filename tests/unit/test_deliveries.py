"""bot.slack.deliveries: delivery keys in memory before the ack, in the database after it, in batches."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack.deliveries import DeliveryLedger, one_by_one


class Table:
    """A `deliveries` table in memory that notes each batch written; `gate` holds writes until it is set."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def record(self, keys: list[str]) -> set[str]:
        await self.gate.wait()
        self.batches.append(list(keys))
        if self.fail is not None:
            raise self.fail
        new = {k for k in keys if k not in self.keys}
        self.keys |= new
        return new


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_new_to_memory_once_and_forgotten_after_the_signature_window() -> None:
    clock = Clock()
    ledger = DeliveryLedger(Table().record, remember=660, clock=clock)
    assert ledger.note("signed:a") and not ledger.note("signed:a")
    clock.now = 659
    assert not ledger.note("signed:a"), "still within the window a signature stays valid"
    clock.now = 661
    assert ledger.note("signed:a"), "older than any valid signature: forgotten (the database still has it)"


def test_memory_holds_at_most_max_keys_and_lets_the_oldest_go() -> None:
    ledger = DeliveryLedger(Table().record, max_keys=3)
    for key in "abcd":
        assert ledger.note(key)
    assert ledger.note("a"), "the oldest went when the fourth came"
    assert not ledger.note("d")


async def test_keys_that_arrive_while_a_batch_is_written_are_written_together() -> None:
    table = Table()
    table.keys.add("k3")  # another replica saw it
    table.gate.clear()
    ledger = DeliveryLedger(table.record)
    first = asyncio.gather(*(ledger.first(f"k{i}") for i in range(50)))
    await asyncio.sleep(0.01)
    table.gate.set()
    results = await first
    assert results == [i != 3 for i in range(50)]
    assert len(table.batches) == 1 and len(table.batches[0]) == 50, "one transaction for the 50 keys"


async def test_the_same_key_twice_in_one_batch_is_new_only_once() -> None:
    ledger = DeliveryLedger(Table().record)
    assert sorted(await asyncio.gather(ledger.first("k"), ledger.first("k"))) == [False, True]


async def test_a_failed_write_reaches_every_waiter_and_the_next_batch_is_written() -> None:
    table = Table()
    table.fail = RuntimeError("database gone")
    ledger = DeliveryLedger(table.record)
    with pytest.raises(RuntimeError, match="database gone"):
        await ledger.first("k1")
    table.fail = None
    assert await ledger.first("k1") and not await ledger.first("k1")


async def test_one_by_one_turns_a_one_key_check_into_a_batch_write() -> None:
    seen: set[str] = set()

    async def first_time(key: str) -> bool:
        new = key not in seen
        seen.add(key)
        return new

    assert await one_by_one(first_time)(["a", "b", "a"]) == {"a", "b"}
