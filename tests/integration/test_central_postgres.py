"""The walking-skeleton tests again, with central on PostgreSQL (the production database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_walking_skeleton import (  # re-collected here with central on PostgreSQL
    test_a_decision_cannot_be_made_twice_or_without_a_reason_for_refusal,
    test_a_fork_is_quarantined_never_overwritten,
    test_case_accepted_offline_reaches_central_and_the_decision_comes_back,
    test_tampered_forged_and_replayed_entries_are_refused_and_change_nothing,
)
from tests.support import postgres_database

__all__ = [
    "test_a_decision_cannot_be_made_twice_or_without_a_reason_for_refusal",
    "test_a_fork_is_quarantined_never_overwritten",
    "test_case_accepted_offline_reaches_central_and_the_decision_comes_back",
    "test_tampered_forged_and_replayed_entries_are_refused_and_change_nothing",
]


@pytest.fixture
def central_database_url() -> Iterator[str]:
    yield from postgres_database()
