"""The JSON request bodies of the hall's API (tickets, appointments, ratings, complaints), typed so `/schema`
documents every field and a value of the wrong type is refused by the framework with the field named (OW-1002).

Fields keep the defaults the services expect (a field left out is refused by the service with its own reason,
naming it), and `None` where the API has always taken null for "not given". Each kind of value is one annotated
type below: a bound on it is added there, once for every body that carries it.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from node.intake.hall.ratings import DEFAULT_COMPLAINT_WORKING_DAYS
from protocol.limits import MAX_CODE, MAX_LIST, MAX_NAME, MAX_TEXT

CategoryCode = Annotated[str, Meta(description="号票业务类别代码（一个字母，如 A）", max_length=MAX_CODE)]
ItemCode = Annotated[str, Meta(description="事项实施编码", max_length=MAX_CODE)]
Window = Annotated[str, Meta(description="窗口名称，如「3号窗口」", max_length=MAX_NAME)]
IdNumber = Annotated[str, Meta(description="身份证号码（只保存其散列）", max_length=MAX_CODE)]
Day = Annotated[str, Meta(description="日期，年-月-日", max_length=MAX_CODE)]
Id = Annotated[str, Meta(description="记录编号（UUID）", max_length=MAX_CODE)]
Text = Annotated[str, Meta(description="工作人员或群众填写的文字", max_length=MAX_TEXT)]
Level = Annotated[
    int, Meta(description="满意度 1–5（GB/T 39046：1 非常不满意 … 5 非常满意）", ge=-1000, le=1000)
]


class CategorySave(Struct, kw_only=True):
    """A ticket category (业务类别) and the items it covers."""

    code: CategoryCode | None = None
    name: Annotated[str, Meta(description="类别名称，如「综合受理」", max_length=MAX_NAME)] | None = None
    item_codes: Annotated[list[ItemCode], Meta(max_length=MAX_LIST)] | None = None
    active: bool = True
    sort_order: Annotated[int, Meta(description="在取号机上的顺序", ge=-1_000_000, le=1_000_000)] | None = (
        None
    )


class TicketRequest(Struct, kw_only=True):
    """取号."""

    category: CategoryCode | None = None
    priority: (
        Annotated[
            str,
            Meta(
                description="优先：elderly 老年人、disabled 残疾人、military 军人、green 绿色通道",
                max_length=MAX_CODE,
            ),
        ]
        | None
    ) = None
    id_number: IdNumber | None = None


class CallRequest(Struct, kw_only=True):
    """叫号: the next ticket for this window's categories."""

    window: Window | None = None
    categories: Annotated[list[CategoryCode], Meta(max_length=MAX_LIST)] | None = None


class TicketAction(Struct, kw_only=True):
    """A step on a called ticket (finish may name the case it started; transfer names the new category)."""

    case_id: Id | None = None
    to_category: CategoryCode | None = None


class Booking(Struct, kw_only=True):
    """预约."""

    category: CategoryCode | None = None
    day: Day | None = None
    slot_start: (
        Annotated[str, Meta(description="时段开始，时:分（本地时间）", max_length=MAX_CODE)] | None
    ) = None
    name: Annotated[str, Meta(description="预约人姓名", max_length=MAX_NAME)] | None = None
    phone: Annotated[str, Meta(description="联系电话", max_length=MAX_CODE)] | None = None
    id_number: IdNumber | None = None


class Rating(Struct, kw_only=True):
    """好差评 of a visit (a case, or a ticket when no case was opened)."""

    level: Level | None = None
    channel: Annotated[str, Meta(description="评价渠道，如 tablet", max_length=MAX_CODE)] = "tablet"
    case_id: Id | None = None
    visit: Annotated[str, Meta(description="没有办件时评价的那次取号", max_length=MAX_CODE)] | None = None
    window: Window | None = None
    comment: Text | None = None
    reason: (
        Annotated[
            str,
            Meta(
                description="差评原因类别：attitude 服务态度、efficiency 办事效率、policy 政策解释、facilities 环境设施、other 其他；不满意、非常不满意时必填"
            ),
        ]
        | None
    ) = None


class Callback(Struct, kw_only=True):
    """差评回访."""

    note: Text = ""


class FollowupClose(Struct, kw_only=True):
    """差评整改办结."""

    rectification: Text = ""


class EvaluatorRequest(Struct, kw_only=True):
    """Ask the window's evaluator device for a rating of this visit."""

    window: Window | None = None
    case_id: Id | None = None
    visit: Annotated[str, Meta(description="没有办件时评价的那次取号", max_length=MAX_CODE)] | None = None


class EvaluatorPress(Struct, kw_only=True):
    """A button pressed on the window's evaluator."""

    level: Level | None = None
    window: Window = ""


class Complaint(Struct, kw_only=True):
    """投诉登记."""

    channel: Annotated[str, Meta(description="投诉渠道", max_length=MAX_NAME)] = ""
    complainant: Annotated[str, Meta(description="投诉人", max_length=MAX_NAME)] = ""
    content: Text = ""
    phone: Annotated[str, Meta(description="联系电话", max_length=MAX_CODE)] = ""
    case_number: Annotated[str, Meta(description="相关办件编号", max_length=MAX_CODE)] = ""


class ComplaintAssignment(Struct, kw_only=True):
    """投诉交办."""

    assignee: Annotated[str, Meta(description="承办人", max_length=MAX_NAME)] = ""
    working_days: Annotated[int, Meta(description="办理时限（工作日）", ge=-1000, le=1000)] = (
        DEFAULT_COMPLAINT_WORKING_DAYS
    )


class ComplaintResolution(Struct, kw_only=True):
    """投诉办结."""

    resolution: Text = ""
