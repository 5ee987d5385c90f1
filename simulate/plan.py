"""The day as planned from a seed: who comes to which centre when, on what ticket, for which item, with which
outcome, how long the window takes and how they rate it. Everything the report counts follows from this plan,
so two runs with the same seed give the same counts however fast the machine is.

Arrivals follow a working day's curve (R-HALL-2's flow monitoring sees it): a crowd waiting at the door at 08:30,
a morning peak around 09:30, a dip over lunch, a smaller peak mid-afternoon, and a trickle before 17:00.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from protocol.identifiers import resident_id_check_char

#: The working day the hall keeps, in minutes after midnight (China time).
OPEN_MIN, CLOSE_MIN = 8 * 60 + 30, 17 * 60
LUNCH = (12 * 60, 13 * 60 + 30)

#: Outcomes at the window (受理 and what else can happen to a visit), with their share of the day.
OUTCOMES: dict[str, float] = {
    "accept": 0.40,  # 受理 (承诺件), decided at the county
    "mail": 0.04,  # 邮寄申请: registered by the logistics window, pre-reviewed, the result mailed back
    "on_spot": 0.15,  # 即办件 decided on the spot by the centre lead
    "waiver": 0.10,  # 容缺受理, the missing material supplied later in the day
    "correction": 0.12,  # 一次性告知
    "refuse": 0.06,  # 不予受理
    "consult": 0.13,  # 咨询: no case
}
OUTCOME_LABELS = {
    "accept": "受理",
    "mail": "邮寄申请",
    "on_spot": "即办件",
    "waiver": "容缺受理",
    "correction": "一次性告知",
    "refuse": "不予受理",
    "consult": "咨询",
}
#: Catalogue items each outcome draws from (single-department items: the county decides them alone).
ITEMS: dict[str, tuple[str, ...]] = {
    "accept": (
        "城乡居民基本养老保险待遇领取",
        "特困人员救助供养申请",
        "临时救助申请",
        "残疾人证申领",
        "80周岁以上老年人高龄补贴申请",
        "农村危房改造申请",
    ),
    "mail": ("城乡居民基本养老保险待遇领取", "临时救助申请", "80周岁以上老年人高龄补贴申请"),
    "on_spot": ("城乡居民基本养老保险参保登记", "城乡居民基本医疗保险参保登记", "生育登记服务"),
    "waiver": ("城乡居民基本养老保险待遇领取", "特困人员救助供养申请", "80周岁以上老年人高龄补贴申请"),
    "correction": ("最低生活保障申请", "临时救助申请", "残疾人证申领"),
    "refuse": ("农村宅基地申请",),
    "consult": ("",),
}
#: How a ticket is taken.
TICKETS: dict[str, float] = {"plain": 0.57, "id_card": 0.25, "appointment": 0.10, "priority": 0.08}
#: 好差评 levels 1 (非常满意) … 5 (非常不满意), and the reason categories of a bad one.
RATINGS: dict[int, float] = {1: 0.62, 2: 0.22, 3: 0.08, 4: 0.05, 5: 0.03}
BAD_REASONS = ("attitude", "efficiency", "policy", "facilities", "other")
#: Minutes at the window by outcome (a range the service time is drawn from).
SERVICE_MIN: dict[str, tuple[float, float]] = {
    "accept": (5, 10),
    "mail": (4, 8),
    "on_spot": (4, 8),
    "waiver": (6, 11),
    "correction": (3, 7),
    "refuse": (3, 6),
    "consult": (1, 4),
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "秀英桂兰玉梅淑珍丽华凤芝建国志强海军德明春生文杰晓东国庆永刚红霞金凤宝山"


@dataclass(frozen=True)
class Visit:
    """One applicant's day."""

    centre: int
    n: int
    #: Minutes after midnight, China time, of taking the ticket.
    arrival: float
    ticket: str
    outcome: str
    item: str
    service_min: float
    #: The ID card is read on the centre's card reader (the simulated one) instead of typed in.
    read_card: bool
    rating: int
    rating_reason: str
    #: The county denies this one (承诺件 and 容缺 only).
    denied: bool
    name: str
    id_number: str

    @property
    def key(self) -> str:
        return f"c{self.centre}-{self.n:04d}"

    @property
    def has_case(self) -> bool:
        return self.outcome != "consult"

    @property
    def decided_by_county(self) -> bool:
        return self.outcome in ("accept", "waiver", "mail")

    @property
    def by_mail(self) -> bool:
        """Came by post: no ticket, no window, no rating at the counter."""
        return self.outcome == "mail"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _intensity(minute: float) -> float:
    """Relative arrival rate at a minute of the day: two peaks and a lunch dip."""
    morning = math.exp(-(((minute - 9.5 * 60) / 55) ** 2))
    afternoon = 0.6 * math.exp(-(((minute - 14.5 * 60) / 60) ** 2))
    base = 0.18
    rate = base + morning + afternoon
    if LUNCH[0] <= minute < LUNCH[1]:
        rate *= 0.35
    return rate


def _arrival(rng: random.Random) -> float:
    while True:
        minute = rng.uniform(OPEN_MIN, CLOSE_MIN - 20)
        if rng.uniform(0, 1.8) <= _intensity(minute):
            return minute


def person(centre: int, n: int) -> tuple[str, str]:
    """A name and a valid resident ID number, different for every (centre, n)."""
    k = centre * 1000 + n
    name = SURNAMES[k % len(SURNAMES)] + GIVEN[(k // len(SURNAMES)) % len(GIVEN)]
    name += GIVEN[(k // (len(SURNAMES) * len(GIVEN))) % len(GIVEN)]
    birth = 19400101 + (k % 28) + 100 * (1 + (k // 28) % 12) - 100 + 10000 * ((k // 336) % 60)
    first17 = f"220581{birth:08d}{k % 1000:03d}"
    return name, first17 + resident_id_check_char(first17)


def windows_open(centres: int, applicants: int) -> list[int]:
    """Windows open at each centre, 2–4: the county town's centre (the first) and every other one busier."""
    if applicants < 60:
        return [2] * centres
    return [4 if i == 0 or i % 3 == 1 else 3 if i % 3 == 2 else 2 for i in range(centres)]


def centre_sizes(centres: int, applicants: int) -> list[int]:
    """Applicants per centre: `applicants` on average, shared in proportion to the windows each keeps open."""
    windows = windows_open(centres, applicants)
    total = centres * applicants
    sizes = [total * w // sum(windows) for w in windows]
    for i in range(total - sum(sizes)):
        sizes[i % centres] += 1
    return sizes


def plan_day(*, seed: int, centres: int, applicants: int) -> list[Visit]:
    """Every applicant of the day, in order of arrival; the same for the same arguments."""
    rng = random.Random(seed)
    visits = []
    for centre, size in enumerate(centre_sizes(centres, applicants)):
        applicants_here = size
        # A crowd is at the door when the hall opens: about one in twelve arrives in the first five minutes.
        door = max(1, applicants_here // 12)
        arrivals = sorted(
            [OPEN_MIN + rng.uniform(0, 5) for _ in range(door)]
            + [_arrival(rng) for _ in range(applicants_here - door)]
        )
        for n, arrival in enumerate(arrivals, start=1):
            outcome = _pick(rng, OUTCOMES)
            low, high = SERVICE_MIN[outcome]
            rating = 0 if outcome == "mail" else _pick(rng, RATINGS)
            name, id_number = person(centre, n)
            visits.append(
                Visit(
                    centre=centre,
                    n=n,
                    arrival=round(arrival, 2),
                    ticket="post" if outcome == "mail" else _pick(rng, TICKETS),
                    outcome=outcome,
                    item=rng.choice(ITEMS[outcome]),
                    service_min=round(rng.uniform(low, high), 2),
                    read_card=outcome not in ("consult", "mail") and rng.random() < 0.2,
                    rating=rating,
                    rating_reason=rng.choice(BAD_REASONS) if rating >= 4 else "",
                    denied=outcome in ("accept", "waiver", "mail") and rng.random() < 0.12,
                    name=name,
                    id_number=id_number,
                )
            )
    return sorted(visits, key=lambda v: (v.arrival, v.centre, v.n))


def planned_counts(visits: list[Visit]) -> dict[str, Any]:
    """What the plan says the day must show: per centre and outcome."""
    by_centre: dict[str, dict[str, int]] = {}
    for v in visits:
        row = by_centre.setdefault(str(v.centre), dict.fromkeys(OUTCOMES, 0))
        row[v.outcome] += 1
    return {
        "applicants": len(visits),
        "cases": sum(v.has_case for v in visits),
        "decided_by_county": sum(v.decided_by_county for v in visits),
        "denied": sum(v.denied for v in visits),
        "bad_ratings": sum(v.rating >= 4 for v in visits),
        "ratings": sum(not v.by_mail for v in visits),
        "by_mail": sum(v.by_mail for v in visits),
        "by_centre": by_centre,
    }
