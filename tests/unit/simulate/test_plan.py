"""The simulated day's plan: the same seed plans the same day, applicants are distinct people with valid ID
numbers, and the hall's curve has its door crowd, morning peak and lunch dip."""

from __future__ import annotations

from protocol.identifiers import resident_id_check_char
from simulate.plan import LUNCH, OPEN_MIN, plan_day, planned_counts


def test_the_same_seed_plans_the_same_day_and_another_seed_another() -> None:
    first = plan_day(seed=11, centres=3, applicants=50)
    assert first == plan_day(seed=11, centres=3, applicants=50)
    assert first != plan_day(seed=12, centres=3, applicants=50)
    assert planned_counts(first)["applicants"] == 150


def test_applicants_are_distinct_people_with_valid_id_numbers() -> None:
    visits = plan_day(seed=3, centres=5, applicants=200)
    assert len({v.name for v in visits}) == len({v.id_number for v in visits}) == len(visits) == 1000
    assert all(v.id_number[17] == resident_id_check_char(v.id_number[:17]) for v in visits)


def test_the_day_has_a_door_crowd_a_morning_peak_and_a_lunch_dip() -> None:
    visits = [v for v in plan_day(seed=5, centres=1, applicants=400)]
    first_five = sum(1 for v in visits if v.arrival < OPEN_MIN + 5)
    lunch = sum(1 for v in visits if LUNCH[0] <= v.arrival < LUNCH[1]) / ((LUNCH[1] - LUNCH[0]) / 30)
    morning = sum(1 for v in visits if 9 * 60 <= v.arrival < 10 * 60 + 30) / 3
    assert first_five >= 13  # enough for Table 1's second row at the door
    assert morning > 3 * lunch
    assert {v.outcome for v in visits} == {
        "accept",
        "mail",
        "on_spot",
        "waiver",
        "correction",
        "refuse",
        "consult",
    }
