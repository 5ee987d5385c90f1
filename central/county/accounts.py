"""Back-office logins at central (后台账号): scrypt check, the lockout after repeated failures, and whether an
open session's account still stands. Plain services over the database; the guard is in `central.county.auth_routes`."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import CST
from central.models import CentralUser, LoginAttemptRecord, StaffSessionRecord
from protocol.errors import ACCOUNT_LOCKED, LOGIN_FAILED, OneWindowError
from protocol.passwords import verify_password
from protocol.staff import LOCKOUT_S, MAX_FAILED_LOGINS, new_session_id, session_digest


def credential_tag(user: CentralUser) -> str:
    """A short fingerprint of the account's password, role and standing, kept in the session: any change ends
    the sessions opened before it."""
    basis = f"{user.password_hash}\x00{user.role}\x00{int(user.disabled)}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def _hhmm(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(CST).strftime("%H:%M")


async def check_login(
    session: AsyncSession, *, username: str, password: str, now: datetime
) -> CentralUser | OneWindowError:
    """The back-office account with these credentials, or the error to raise once the caller's transaction has
    committed (a failure must be counted, so it is returned rather than raised inside the transaction).

    OW-1105 while the name is locked, even with the right password; OW-1103 for a wrong name or password,
    saying how many tries are left; the fifth failure in a row locks the name for fifteen minutes."""
    username = username.strip()[:64]
    # The name's row is locked for the whole check, so parallel guesses are counted one after another (on
    # PostgreSQL; central's SQLite transactions are already one at a time). A name never tried gets its row
    # first, in a savepoint, so two first guesses cannot both insert it.
    locked = select(LoginAttemptRecord).where(LoginAttemptRecord.username == username).with_for_update()
    attempt = (await session.exec(locked)).first()
    if attempt is None:
        try:
            async with session.begin_nested():
                session.add(LoginAttemptRecord(username=username, failures=0, last_failed_at=""))
        except IntegrityError:
            pass
        attempt = (await session.exec(locked)).first()
    if attempt is not None and attempt.locked_until and datetime.fromisoformat(attempt.locked_until) > now:
        return OneWindowError(
            ACCOUNT_LOCKED,
            f"账号已锁定：连续 {MAX_FAILED_LOGINS} 次密码错误，请于 {_hhmm(attempt.locked_until)} 后再试",
            field="username",
            retry_at=attempt.locked_until,
        )
    user = await session.get(CentralUser, username)
    if user is not None and verify_password(password, user.password_hash):
        if attempt is not None:
            await session.delete(attempt)
        if user.disabled:
            return OneWindowError(LOGIN_FAILED, "该账号已停用，请联系县管理员", field="username")
        return user
    failures = 1 if attempt is None or attempt.locked_until else attempt.failures + 1
    locked_until = (now + timedelta(seconds=LOCKOUT_S)).isoformat() if failures >= MAX_FAILED_LOGINS else None
    if attempt is None:
        attempt = LoginAttemptRecord(username=username, last_failed_at=now.isoformat())
    attempt.failures, attempt.last_failed_at, attempt.locked_until = failures, now.isoformat(), locked_until
    session.add(attempt)
    if locked_until is not None:
        return OneWindowError(
            ACCOUNT_LOCKED,
            f"密码连续错误 {MAX_FAILED_LOGINS} 次，账号已锁定，请于 {_hhmm(locked_until)} 后再试",
            field="username",
            retry_at=locked_until,
        )
    return OneWindowError(
        LOGIN_FAILED,
        f"用户名或密码错误（再错 {MAX_FAILED_LOGINS - failures} 次将锁定 {LOCKOUT_S // 60} 分钟）",
        field="password",
    )


async def session_refusal(
    session: AsyncSession, *, username: str, cred: object, sid: object = None
) -> str | None:
    """Why an open session of `username` may not go on (ended: logged out or not one central started;
    disabled / changed), or None."""
    live = await session.get(StaffSessionRecord, session_digest(sid)) if sid else None
    if live is None or live.ended_at is not None or live.username != username:
        return "ended"
    user = await session.get(CentralUser, username)
    if user is None or user.disabled:
        return "disabled"
    if credential_tag(user) != cred:
        return "changed"
    return None


def start_session(session: AsyncSession, username: str, now: str) -> str:
    """Record a new back-office login and return its session id (a new one at every login)."""
    sid, digest = new_session_id()
    session.add(StaffSessionRecord(sid_digest=digest, username=username, issued_at=now))
    return sid


async def end_session(session: AsyncSession, sid: object, now: str) -> None:
    """A logout: the session is over server-side; sessions long over are forgotten."""
    if not sid:
        return
    live = await session.get(StaffSessionRecord, session_digest(sid))
    if live is not None and live.ended_at is None:
        live.ended_at = now
        session.add(live)
    horizon = (datetime.fromisoformat(now) - timedelta(days=2)).isoformat()
    await session.exec(delete(StaffSessionRecord).where(col(StaffSessionRecord.issued_at) < horizon))
