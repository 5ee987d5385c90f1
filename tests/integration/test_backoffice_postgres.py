"""The back-office, catalogue and remote-support tests again, with central on PostgreSQL (production's database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_backoffice import (  # re-collected here with central on PostgreSQL
    test_an_extension_needs_the_lead_head_and_a_reason,
    test_joint_case_with_a_correction_pause_across_the_national_day_week,
    test_pages_and_api_walk_a_joint_case_to_its_result,
    test_supervision_finds_seeded_anomalies_and_nothing_on_a_clean_history,
)
from tests.integration.test_catalogue_admin import (
    test_a_catalogue_change_mid_case_keeps_the_case_on_its_version,
)
from tests.integration.test_remote_support import test_a_window_asks_a_department_and_the_answer_comes_back
from tests.support import postgres_database

__all__ = [
    "test_a_catalogue_change_mid_case_keeps_the_case_on_its_version",
    "test_a_window_asks_a_department_and_the_answer_comes_back",
    "test_an_extension_needs_the_lead_head_and_a_reason",
    "test_joint_case_with_a_correction_pause_across_the_national_day_week",
    "test_pages_and_api_walk_a_joint_case_to_its_result",
    "test_supervision_finds_seeded_anomalies_and_nothing_on_a_clean_history",
]


@pytest.fixture
def central_database_url() -> Iterator[str]:
    yield from postgres_database()
