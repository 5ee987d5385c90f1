"""The applicant message queue: each pre-acceptance result becomes an SMS for the gateway (when the applicant
gave a mobile number) and a letter to print and post; the clerk marks each one sent.
"""

from __future__ import annotations

from sqlmodel import col, select

from node.events import case_state
from node.intake.mail.models import ApplicantMessage
from node.intake.mail.parcels import OPENERS, get_row, require_role
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.events import (
    CaseState,
)


async def queued_messages(runtime: NodeRuntime, *, limit: int = 100) -> list[ApplicantMessage]:
    """Messages not sent yet, oldest first."""
    async with runtime.db.read() as session:
        query = (
            select(ApplicantMessage)
            .where(ApplicantMessage.status == "queued")
            .order_by(col(ApplicantMessage.queued_at))
            .limit(limit)
        )
        return list((await session.exec(query)).all())


async def mark_message_sent(runtime: NodeRuntime, *, actor: Actor, message_id: str) -> ApplicantMessage:
    """The letter was printed and posted (or the SMS sent by hand): it leaves the queue."""
    require_role(actor, OPENERS, "处理告知消息")
    async with runtime.db.write() as session:
        message: ApplicantMessage = await get_row(session, ApplicantMessage, message_id, "消息")
        if message.status != "sent":
            message.status, message.sent_at, message.sent_by = "sent", runtime.now_iso(), actor.username
            session.add(message)
        return message


async def message_with_case(runtime: NodeRuntime, message_id: str) -> tuple[ApplicantMessage, CaseState]:
    """A queued (or sent) message and the case it is about."""
    async with runtime.db.read() as session:
        message: ApplicantMessage = await get_row(session, ApplicantMessage, message_id, "消息")
        return message, await case_state(session, message.case_id)
