"""Staff accounts on the node (R-PROV-3): login verified offline against hashes distributed by central, the
local lockout after repeated failures, and the accounts central sends down (created, disabled, reset, a lead's
即办件 authorities), applied only when newer than what the node holds.

Also who does what: the `Actor` every recorded step names, and the groups of roles (岗位) the services check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.models import LoginAttempt, Staff, StaffSession
from node.runtime import CST, NodeRuntime
from protocol.errors import ACCOUNT_LOCKED, LOGIN_FAILED, OneWindowError
from protocol.passwords import verify_password
from protocol.staff import (
    LOCKOUT_S,
    MAX_FAILED_LOGINS,
    StaffAccount,
    new_session_id,
    session_digest,
)

#: 综合窗口人员 and 业务负责人: receive cases, decide their acceptance, pre-review mailed applications.
FRONT_DESK = ("window", "lead")
#: 业务负责人 and 节点管理员: ratings' follow-ups, the hall dashboard, ticket categories, archiving.
LEADS = ("lead", "node_admin")
#: 物料流转窗口 (and the lead): parcels, manifests, the courier file.
LOGISTICS = ("logistics", "lead")
#: Everyone who sits at a window: calling tickets, opening parcels, handing results over.
WINDOW_STAFF = ("window", "logistics", "lead")


@dataclass(frozen=True)
class Actor:
    """The staff member doing the action (or a system actor such as the legal clocks)."""

    username: str
    role: str


def staff_row(account: StaffAccount) -> Staff:
    """The node's row for a distributed account."""
    return Staff(**account.stored_columns())


def authorities_of(staff: Staff) -> list[str]:
    """The item codes this account may decide on the spot (即办件)."""
    codes = json.loads(staff.authorities or "[]")
    return [str(code) for code in codes] if isinstance(codes, list) else []


def credential_tag(staff: Staff) -> str:
    """A short fingerprint of the account's credentials and standing, kept in the session: a reset, a role
    change or a disabling at central changes it, and the next request of an open session is refused."""
    basis = f"{staff.password_hash}\x00{staff.role}\x00{int(staff.disabled)}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def _local_hhmm(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%H:%M")


async def authenticate(runtime: NodeRuntime, *, username: str, password: str) -> Staff:
    """The staff member with these credentials.

    OW-1105 while the name is locked (even with the right password); OW-1103 for a wrong name or password (the
    same words whichever was wrong, with the tries left); the fifth failure in a row locks the name for
    fifteen minutes. A disabled account is named as such only once its password was right."""
    username = username.strip()[:64]
    async with _login_lock(runtime.node_id, username):
        return await _authenticate(runtime, username, password)


@contextlib.asynccontextmanager
async def _login_lock(node_id: str, username: str) -> AsyncIterator[None]:
    """One login at a time per name (as central's row lock does): parallel guesses are counted one after
    another, so a sixth guess meets the lock the fifth set and its password is never checked. The lock is
    held in the process, not the database: the window's writes never wait for a scrypt."""
    key = (node_id, username)
    lock, users = _LOGIN_LOCKS.get(key, (asyncio.Lock(), 0))
    _LOGIN_LOCKS[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _LOGIN_LOCKS[key]
        if users <= 1:
            del _LOGIN_LOCKS[key]
        else:
            _LOGIN_LOCKS[key] = (lock, users - 1)


_LOGIN_LOCKS: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}


async def _authenticate(runtime: NodeRuntime, username: str, password: str) -> Staff:
    now = runtime.now()
    async with runtime.db.read() as session:
        staff = await session.get(Staff, username)
        attempt = await session.get(LoginAttempt, username)
    if attempt is not None and attempt.locked_until and datetime.fromisoformat(attempt.locked_until) > now:
        until = datetime.fromisoformat(attempt.locked_until)
        raise OneWindowError(
            ACCOUNT_LOCKED,
            f"账号已锁定：连续 {MAX_FAILED_LOGINS} 次密码错误，请于 {_local_hhmm(until)} 后再试",
            field="username",
            retry_at=attempt.locked_until,
        )
    # scrypt runs outside the write transaction (and off the event loop), so a login never holds up the window.
    good = staff is not None and await asyncio.to_thread(verify_password, password, staff.password_hash)
    failures, locked_until = 0, None
    async with runtime.db.write() as session:
        attempt = await session.get(LoginAttempt, username)
        if good:
            if attempt is not None:
                await session.delete(attempt)
        else:
            failures = 1 if attempt is None or attempt.locked_until else attempt.failures + 1
            if failures >= MAX_FAILED_LOGINS:
                locked_until = (now + timedelta(seconds=LOCKOUT_S)).isoformat()
            if attempt is None:
                attempt = LoginAttempt(username=username, last_failed_at=now.isoformat())
            attempt.failures, attempt.last_failed_at, attempt.locked_until = (
                failures,
                now.isoformat(),
                locked_until,
            )
            session.add(attempt)
    if not good or staff is None:
        if locked_until is not None:
            raise OneWindowError(
                ACCOUNT_LOCKED,
                f"密码连续错误 {MAX_FAILED_LOGINS} 次，账号已锁定，请于 "
                f"{_local_hhmm(datetime.fromisoformat(locked_until))} 后再试",
                field="username",
                retry_at=locked_until,
            )
        left = MAX_FAILED_LOGINS - failures
        raise OneWindowError(
            LOGIN_FAILED, f"用户名或密码错误（再错 {left} 次将锁定 {LOCKOUT_S // 60} 分钟）", field="password"
        )
    if staff.disabled:
        raise OneWindowError(LOGIN_FAILED, "该账号已被县中心停用，请联系县管理员", field="username")
    return staff


async def apply_staff_accounts(session: AsyncSession, accounts: Iterable[Mapping[str, Any]]) -> int:
    """Keep the accounts of a ``staff`` down entry that are newer than the node's; returns how many changed.

    A new password (a reset at central) also lifts the local lockout of that name."""
    changed = 0
    for raw in accounts:
        try:
            account = StaffAccount.from_dict(raw)
        except (KeyError, ValueError):
            continue  # the entry is county-signed; a malformed account is skipped, never blocks the down log
        row = await session.get(Staff, account.username)
        if row is not None and row.version >= account.version:
            continue  # an older or the same state: replayed or late, never overwrites a newer one
        new = staff_row(account)
        if row is None:
            session.add(new)
        else:
            reset = row.password_hash != new.password_hash
            for name in ("display_name", "role", "password_hash", "disabled", "authorities", "version"):
                setattr(row, name, getattr(new, name))
            session.add(row)
            if reset:
                attempt = await session.get(LoginAttempt, account.username)
                if attempt is not None:
                    await session.delete(attempt)
        changed += 1
    return changed


async def staff_names(runtime: NodeRuntime) -> dict[str, str]:
    """Usernames to the names printed on notices and shown on pages."""
    async with runtime.db.read() as session:
        return {s.username: s.display_name for s in (await session.exec(select(Staff))).all()}


async def session_standing(
    runtime: NodeRuntime, *, username: str, credential: object, sid: object = None
) -> str | None:
    """Why a logged-in session of `username` may not go on ("ended": logged out, or not a session this node
    started; "disabled" or "changed": the account was disabled or its credentials or role changed at central
    since the login), or None."""
    async with runtime.db.read() as session:
        staff = await session.get(Staff, username)
        live = await session.get(StaffSession, session_digest(sid)) if sid else None
    if live is None or live.ended_at is not None or live.username != username:
        return "ended"
    if staff is None or staff.disabled:
        return "disabled"
    if credential_tag(staff) != credential:
        return "changed"
    return None


async def start_session(runtime: NodeRuntime, username: str) -> str:
    """Record a new login and return its session id (a new one at every login: the id rotates)."""
    sid, digest = new_session_id()
    now = datetime.now(UTC).isoformat()  # sessions are on the wall clock (see `node.auth_routes`)
    async with runtime.db.write() as session:
        session.add(StaffSession(sid_digest=digest, username=username, issued_at=now))
    return sid


async def end_session(runtime: NodeRuntime, sid: object) -> None:
    """A logout: the session is over server-side, whatever becomes of its cookie."""
    if not sid:
        return
    async with runtime.db.write() as session:
        live = await session.get(StaffSession, session_digest(sid))
        if live is not None and live.ended_at is None:
            live.ended_at = datetime.now(UTC).isoformat()
            session.add(live)
        # Sessions long over are forgotten (none lasts a day: `SessionPolicy.max_s`).
        horizon = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        for stale in (
            await session.exec(select(StaffSession).where(col(StaffSession.issued_at) < horizon))
        ).all():
            await session.delete(stale)
