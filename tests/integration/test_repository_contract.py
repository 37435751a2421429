"""The SQL repositories and the in-memory fakes obey one contract: the fake-store tests, run on the database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain.clock import ManualClock
from bot.storage.engine import make_engine
from bot.storage.migrate import upgrade
from bot.storage.store import Store
from tests.unit.services.test_bulk_store import (  # noqa: F401 - collected here against the SQL store
    test_a_bulk_activation_gives_each_pending_grant_its_own_end_and_skips_the_others,
    test_a_bulk_audit_append_extends_the_chain_once_and_the_chain_still_verifies,
    test_a_bulk_move_changes_only_the_grants_still_in_the_expected_state_and_due,
    test_a_bulk_move_of_more_grants_than_one_statement_takes_moves_them_all,
    test_effects_owed_in_bulk_come_back_in_order_in_their_lanes,
)
from tests.unit.services.test_fake_store import (  # noqa: F401 - collected here against the SQL store
    test_a_voter_votes_once_and_votes_come_back_with_the_request,
    test_an_exception_rolls_back_everything_the_unit_of_work_wrote,
    test_due_keys_come_lane_by_lane_each_key_once_in_its_most_urgent_lane,
    test_grants_page_by_creation_time_then_id_after_a_keyset_cursor,
    test_moves_and_extensions_are_compare_and_set,
    test_the_audit_log_is_a_hash_chain_and_filters_by_person,
    test_the_unique_rules_refuse_second_pending_requests_extensions_and_live_grants,
)
from tests.unit.services.test_retention import (  # noqa: F401 - collected here against the SQL store
    test_a_replay_within_the_signature_window_is_still_refused_after_a_prune,
    test_prune_deletes_only_done_effects_older_than_the_retention_in_batches,
    test_prune_forgets_delivery_keys_older_than_the_retention_and_keeps_the_newer,
    test_prune_never_touches_the_audit_log,
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated SQL store (SQLite, and PostgreSQL when ACCESSBOT_TEST_PG_URL is set) on a manual clock."""
    engine = make_engine(database_url)
    await upgrade(engine)
    yield Store(engine, ManualClock())
    await engine.dispose()
