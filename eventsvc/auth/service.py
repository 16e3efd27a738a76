"""Organizer accounts: create, log in (throttled, second factor), passwords, API tokens, roles.

Plain functions over the session: they flush, never commit, and take ``now`` (and secrets)
from the caller.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.i18n import N_, msg
from ..core.text import TextError, check_text, normalize_email
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from . import passwords, totp
from .models import ApiToken, LoginThrottle, Organizer, RecoveryCode

log = logging.getLogger(__name__)

TOKEN_PREFIX = "evt_"
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
#: a token's ``last_used_at`` moves at most this often (one write a minute, not one per call)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
#: a hash to compare against when the account does not exist, so timing tells nothing
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_email(value: str, field: str = "email") -> str:
    """A normalised, syntactically valid address or :class:`ValidationFailed`."""
    email = normalize_email(value)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationFailed({field: N_("メールアドレスの形式が正しくありません。")}) from None
    if len(email) > 254:
        raise ValidationFailed({field: N_("メールアドレスが長すぎます。")})
    return email


#: a new password found on the list of common passwords (``auth/passwords.py``)
COMMON_PASSWORD = N_("よく使われているパスワードのため使えません。推測されにくい、ほかのパスワードにしてください。")
#: a new password containing the account's e-mail address (its part before the @) or name
PERSONAL_PASSWORD = N_("メールアドレスや名前を含むパスワードは使えません。推測されにくい、ほかのパスワードにしてください。")


def check_new_password(password: str, field: str = "password", *, email: str = "", name: str = "") -> str:
    """The password, when it may be set for the account with this address and name: long
    enough, not a common password, not containing the address or the name."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed({field: msg(N_("パスワードは%(n)s文字以上にしてください。"), n=MIN_PASSWORD)})
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed({field: N_("パスワードが長すぎます。")})
    if passwords.has_control_characters(password):
        raise ValidationFailed({field: N_("パスワードに制御文字（改行、NULなど）は使えません。")})
    if passwords.is_common(password):
        raise ValidationFailed({field: COMMON_PASSWORD})
    if passwords.contains_personal(password, email=email, name=name):
        raise ValidationFailed({field: PERSONAL_PASSWORD})
    return password


def create_organizer(email: str, name: str, password: str, *, is_admin: bool = False) -> Organizer:
    email = check_email(email)
    try:
        name = check_text(name, max_length=100)
    except TextError as err:
        raise ValidationFailed({"name": err.message}) from None
    if not name:
        raise ValidationFailed({"name": N_("名前を入力してください。")})
    check_new_password(password, email=email, name=name)
    if db.session.scalar(select(Organizer.id).where(Organizer.email == email)):
        raise Conflict("organizer_exists", N_("このメールアドレスの主催者は既に登録されています。"),
                       {"email": N_("このメールアドレスの主催者は既に登録されています。")})
    organizer = Organizer(email=email, name=name, password_hash=generate_password_hash(password),
                          is_admin=is_admin)
    db.session.add(organizer)
    db.session.flush()
    return organizer


def find_organizer(email: str) -> Organizer:
    organizer = db.session.scalar(select(Organizer).where(Organizer.email == normalize_email(email)))
    if organizer is None:
        raise NotFound("organizer_not_found", N_("その主催者は登録されていません。"))
    return organizer


# ------------------------------------------------------------------ login and its throttle
@dataclass(frozen=True)
class LoginPolicy:
    """After ``max_failures`` failed attempts for one account name, it is locked for
    ``lock_seconds``, doubling with each further failure up to ``max_lock_seconds``.
    Failures older than ``forget_seconds`` are forgotten; a successful login clears them."""

    max_failures: int = 5
    lock_seconds: int = 60
    max_lock_seconds: int = 3600
    forget_seconds: int = 86400

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.max_failures:
            return None
        doublings = min(failures - self.max_failures, 20)
        return timedelta(seconds=min(self.lock_seconds * 2**doublings, self.max_lock_seconds))


@dataclass
class LoginResult:
    """The organizer whose password matched (second factor still to come when they have
    one), or None; ``locked_until`` when the account name is locked (the password was then
    not checked at all)."""

    organizer: Organizer | None
    locked_until: datetime | None = None


def throttle_key(email: str, secret: str) -> str:
    """The throttle row of an account name: an HMAC of the normalised address (not the address)."""
    return hmac.new(secret.encode(), b"login:" + normalize_email(email).encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def locked_until(key: str, now: datetime) -> datetime | None:
    row = db.session.get(LoginThrottle, key)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def record_failure(key: str, now: datetime, policy: LoginPolicy) -> LoginThrottle:
    """Count one failed attempt (row-locked; a concurrent first failure is retried)."""
    query = select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = LoginThrottle(key=key, failures=0, last_failed_at=now)
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(query.execution_options(populate_existing=True))
    if row.last_failed_at < now - timedelta(seconds=policy.forget_seconds):
        row.failures = 0
    row.failures += 1
    row.last_failed_at = now
    lock = policy.lock_for(row.failures)
    row.locked_until = now + lock if lock else None
    # old rows of names nobody tries any more go; the index on last_failed_at keeps this cheap
    forget = now - timedelta(seconds=policy.forget_seconds)
    db.session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failed_at < forget,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now)))
    db.session.flush()
    return row


def clear_failures(key: str) -> None:
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def authenticate(email: str, password: str, now: datetime, *, secret: str,
                 policy: LoginPolicy = LoginPolicy()) -> LoginResult:
    """Check a password, counting failures per account name (the caller commits either way).

    Unknown, deactivated and existing accounts are treated alike: the same work, the same
    counting, the same lock, so nothing tells whether an address has an account.
    """
    key = throttle_key(email, secret)
    until = locked_until(key, now)
    if until is not None:
        return LoginResult(None, until)
    address = normalize_email(email)
    # NUL is in no address (and PostgreSQL refuses it as a parameter): unknown, with the same work
    organizer = None if "\x00" in address else db.session.scalar(select(Organizer).where(Organizer.email == address))
    if organizer is None or not organizer.is_active_account:
        check_password_hash(_DUMMY_HASH, password)
        organizer = None
    elif not check_password_hash(organizer.password_hash, password):
        organizer = None
    if organizer is None:
        row = record_failure(key, now, policy)
        return LoginResult(None, row.locked_until)
    return LoginResult(organizer)


def finish_login(organizer: Organizer, now: datetime, *, secret: str) -> None:
    """Both factors passed: forget the failures, note the time."""
    clear_failures(throttle_key(organizer.email, secret))
    organizer.last_login_at = now
    db.session.flush()


def load_session_user(user_id: str) -> Organizer | None:
    """Flask-Login's loader: ``"<id>:<session_version>"``; a stale version logs out."""
    ident, _, version = user_id.partition(":")
    if not ident.isdigit() or not version.isdigit():
        return None
    organizer = db.session.get(Organizer, int(ident))
    if organizer is None or organizer.session_version != int(version) or not organizer.is_active_account:
        return None
    return organizer


def end_sessions(organizer: Organizer) -> None:
    """Every session of this organizer (every browser, every copied cookie) ends."""
    organizer.session_version += 1
    db.session.flush()


# ------------------------------------------------------------------ password
def change_password(organizer: Organizer, current: str, new: str, now: datetime) -> None:
    """Set a new password after checking the current one; other sessions end."""
    if not check_password_hash(organizer.password_hash, current):
        raise ValidationFailed({"current_password": N_("現在のパスワードが正しくありません。")})
    check_new_password(new, "new_password", email=organizer.email, name=organizer.name)
    if new == current:
        raise ValidationFailed({"new_password": N_("現在のパスワードとは違うパスワードにしてください。")})
    set_password(organizer, new, now)


def set_password(organizer: Organizer, new: str, now: datetime) -> None:
    """Set a password (checked as any new one); the organizer's sessions end."""
    check_new_password(new, email=organizer.email, name=organizer.name)
    organizer.password_hash = generate_password_hash(new)
    organizer.password_changed_at = now
    end_sessions(organizer)


# ------------------------------------------------------------------ second factor
WRONG_CODE = N_("確認コードが正しくありません。認証アプリに表示されている6桁の数字を入力してください。")
#: an app code typed again within its 30 seconds (or an earlier one's): refused with this
CODE_ALREADY_USED = N_("このコードは使用済みです。認証アプリに次のコードが表示されてから入力してください。")


def _sealing_key() -> bytes:
    from flask import current_app

    return totp.sealing_key(str(current_app.secret_key))


def _unseal(stored: str) -> str | None:
    """The secret, or None when it cannot be read (the secret key changed: reset-2fa)."""
    try:
        return totp.unseal(stored, _sealing_key())
    except totp.UnreadableSecret:
        log.warning("auth: a TOTP secret cannot be read with the current secret key; "
                    "the organizer's second factor needs `eventsvc organizer reset-2fa`")
        return None


def pending_totp_secret(organizer: Organizer) -> str:
    """The secret the setup page shows (kept until confirmed, so a reload shows the same one)."""
    secret = _unseal(organizer.totp_pending_secret) if organizer.totp_pending_secret else None
    if secret is None:
        secret = totp.new_secret()
        organizer.totp_pending_secret = totp.seal(secret, _sealing_key())
        db.session.flush()
    return secret


def _lock(organizer: Organizer) -> None:
    # two requests with the same code: the second waits here and then sees the step used
    db.session.refresh(organizer, with_for_update=True)


def confirm_totp(organizer: Organizer, code: str, now: datetime) -> list[str]:
    """Turn the second factor on with the first code from the app; the new recovery codes
    are returned (shown once). Other sessions end."""
    _lock(organizer)
    if organizer.totp_pending_secret is None:
        raise Conflict("totp_not_started", N_("設定をやり直してください。"))
    pending = _unseal(organizer.totp_pending_secret)
    step = totp.verify(pending, code, now, None) if pending else None
    if step is None:
        raise ValidationFailed({"code": WRONG_CODE})
    organizer.totp_secret = totp.seal(pending, _sealing_key())
    organizer.totp_pending_secret = None
    organizer.totp_enabled_at = now
    organizer.totp_last_step = step
    codes = _new_recovery_codes(organizer, now)
    end_sessions(organizer)
    return codes


def _new_recovery_codes(organizer: Organizer, now: datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.organizer_id == organizer.id))
    codes = totp.new_recovery_codes()
    for code in codes:
        db.session.add(RecoveryCode(organizer_id=organizer.id, code_hash=totp.hash_recovery_code(code),
                                    created_at=now))
    db.session.flush()
    db.session.expire(organizer, ["recovery_codes"])
    return codes


@dataclass(frozen=True)
class SecondFactor:
    #: ``"totp"`` or ``"recovery"`` when the code was good (and is now used up), else None
    kind: str | None
    #: refused because that app code (its time step) was used already
    replayed: bool = False


def verify_second_factor(organizer: Organizer, code: str, now: datetime) -> SecondFactor:
    """Check a code from the app or a recovery code, using it up when good."""
    if not organizer.has_totp:
        return SecondFactor(None)
    _lock(organizer)
    if totp.looks_like_totp(code):
        secret = _unseal(organizer.totp_secret)
        verdict = totp.check(secret, code, now, organizer.totp_last_step) if secret else totp.Check(None)
        if verdict.step is None:
            return SecondFactor(None, replayed=verdict.replayed)
        organizer.totp_last_step = verdict.step
        if not totp.is_sealed(organizer.totp_secret):  # stored before sealing existed
            organizer.totp_secret = totp.seal(secret, _sealing_key())
        db.session.flush()
        return SecondFactor("totp")
    digest = totp.hash_recovery_code(code)
    if digest is None:
        return SecondFactor(None)
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.organizer_id == organizer.id, RecoveryCode.code_hash == digest,
               RecoveryCode.used_at.is_(None))
        .values(used_at=now))
    if used.rowcount != 1:
        return SecondFactor(None)
    db.session.expire(organizer, ["recovery_codes"])
    return SecondFactor("recovery")


def check_second_factor(organizer: Organizer, code: str, now: datetime) -> str | None:
    """``"totp"`` or ``"recovery"`` when the code is good (and now used up), else None."""
    return verify_second_factor(organizer, code, now).kind


def renew_recovery_codes(organizer: Organizer, code: str, now: datetime) -> list[str]:
    """A fresh set of recovery codes (the old ones stop working), after a current app code."""
    if not organizer.has_totp:
        raise Conflict("totp_not_enabled", N_("二段階認証が有効になっていません。"))
    checked = verify_second_factor(organizer, code, now)
    if checked.kind != "totp":
        raise ValidationFailed({"code": CODE_ALREADY_USED if checked.replayed else WRONG_CODE})
    return _new_recovery_codes(organizer, now)


def remaining_recovery_codes(organizer: Organizer) -> int:
    return sum(1 for c in organizer.recovery_codes if c.used_at is None)


def disable_totp(organizer: Organizer, password: str | None, now: datetime) -> None:
    """Turn the second factor off (organizers only; admins must keep one). ``password``
    None is the administrator's reset from the command line."""
    if password is not None:
        if organizer.is_admin:
            raise Conflict("totp_required", N_("管理者は二段階認証を無効にできません。"))
        if not check_password_hash(organizer.password_hash, password):
            raise ValidationFailed({"password": N_("パスワードが正しくありません。")})
    organizer.totp_secret = None
    organizer.totp_pending_secret = None
    organizer.totp_enabled_at = None
    organizer.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.organizer_id == organizer.id))
    db.session.expire(organizer, ["recovery_codes"])
    end_sessions(organizer)


# ------------------------------------------------------------------ organizers (admins)
def list_organizers() -> list[Organizer]:
    return list(db.session.scalars(select(Organizer).order_by(Organizer.is_active_account.desc(),
                                                              Organizer.name, Organizer.id)))


def get_organizer(organizer_id: int) -> Organizer:
    organizer = db.session.get(Organizer, organizer_id)
    if organizer is None:
        raise NotFound("organizer_not_found", N_("その主催者は登録されていません。"))
    return organizer


def set_active(organizer: Organizer, active: bool, actor: Organizer) -> None:
    """Deactivate (sessions end at once, API tokens stop working) or reactivate an account."""
    if organizer.id == actor.id and not active:
        raise Conflict("cannot_deactivate_self", N_("自分のアカウントは無効にできません。"))
    organizer.is_active_account = active
    if not active:
        end_sessions(organizer)
    db.session.flush()


# ------------------------------------------------------------------ API tokens
def create_token(organizer: Organizer, name: str = "") -> str:
    """A new API token; returned once in clear, stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(organizer=organizer, name=name[:100], token_hash=hash_token(token),
                            prefix=token[:10]))
    db.session.flush()
    return token


#: how long a new token may wait in the session for the page that shows it (right after the redirect)
NEW_TOKEN_SECONDS = 300
_NEW_TOKEN_PURPOSE = b"eventsvc new api token v1"


def seal_new_token(token: str, now: datetime, *, secret: str) -> str:
    """A new token as the session carries it to the page that shows it once: encrypted (a
    session is a signed cookie, readable by whoever holds it) and good for a few minutes."""
    box = Fernet(totp.sealing_key(secret, _NEW_TOKEN_PURPOSE))
    return box.encrypt_at_time(token.encode(), int(now.timestamp())).decode()


def open_new_token(sealed: object, now: datetime, *, secret: str) -> str | None:
    """The token :func:`seal_new_token` sealed, or None (not ours, altered, or too old)."""
    if not isinstance(sealed, str):
        return None
    box = Fernet(totp.sealing_key(secret, _NEW_TOKEN_PURPOSE))
    try:
        return box.decrypt_at_time(sealed.encode(), NEW_TOKEN_SECONDS, int(now.timestamp())).decode()
    except (InvalidToken, ValueError):
        return None


def list_tokens(organizer: Organizer) -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.organizer_id == organizer.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(organizer: Organizer, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of this organizer's own tokens (someone else's is not found)."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.organizer_id != organizer.id:
        raise NotFound("token_not_found", N_("そのトークンは見つかりません。"))
    if row.revoked_at is None:
        row.revoked_at = now
    db.session.flush()
    return row


@dataclass
class ResolvedToken:
    organizer: Organizer
    token_id: int
    #: ``last_used_at`` is older than a minute: the caller should :func:`touch_token`
    stale: bool
    #: with ``event_slug``: the event of that slug this organizer runs (any, for an admin), else None
    event: Any = None


#: the organizer and what matters of their token, in one query (every API call runs it; one
#: entity and three columns load at a fraction of the cost of two joined entities)
_TOKEN = (select(Organizer, ApiToken.id, ApiToken.token_hash, ApiToken.revoked_at, ApiToken.last_used_at)
          .join(ApiToken, ApiToken.organizer_id == Organizer.id)
          .where(ApiToken.token_hash == bindparam("digest")))


@functools.cache
def _token_with_event():
    """:data:`_TOKEN` and, in the same row, the event of ``:slug`` if this organizer runs it (an
    admin: any event of that slug). Built on first use: the events package maps its tables later."""
    from ..events.models import Event, event_organizers

    runs = select(event_organizers.c.event_id).where(event_organizers.c.event_id == Event.id,
                                                     event_organizers.c.organizer_id == Organizer.id).exists()
    return _TOKEN.add_columns(Event).outerjoin(
        Event, and_(Event.slug == bindparam("slug"), or_(Organizer.is_admin.is_(True), runs)))


@functools.cache
def _token_still_runs():
    """True while the token ``:guard_digest`` is valid (not revoked, its organizer active) and its
    organizer may act on the event ``:guard_event``, still of slug ``:guard_slug`` (they run it,
    or are an admin): what :func:`_token_with_event` found, checked again."""
    from ..events.models import Event, event_organizers

    runs = select(event_organizers.c.event_id).where(event_organizers.c.event_id == bindparam("guard_event"),
                                                     event_organizers.c.organizer_id == Organizer.id).exists()
    token = (select(ApiToken.id).join(Organizer, Organizer.id == ApiToken.organizer_id)
             .where(ApiToken.token_hash == bindparam("guard_digest"), ApiToken.revoked_at.is_(None),
                    Organizer.is_active_account.is_(True), or_(Organizer.is_admin.is_(True), runs)).exists())
    event = select(Event.id).where(Event.id == bindparam("guard_event"), Event.slug == bindparam("guard_slug")).exists()
    return and_(token, event)


def token_guard(token: str, organizer: Organizer, event, now: datetime) -> tuple[Any, dict]:
    """The JSON API's guard for a reused organizer token (``jsonapi.principal_guard``)."""
    return _token_still_runs(), {"guard_digest": hash_token(token), "guard_event": event.id, "guard_slug": event.slug}


def resolve_token_row(token: str, now: datetime, *, event_slug: str | None = None) -> ResolvedToken | None:
    """The organizer behind a bearer token, or None (unknown, revoked, deactivated). With
    ``event_slug``, the same query also loads the event of that slug the organizer runs
    (:attr:`ResolvedToken.event`): a desk call's two lookups in one round trip."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    if event_slug is None:
        row, event = db.session.execute(_TOKEN, {"digest": digest}).first(), None
    else:
        row = db.session.execute(_token_with_event(), {"digest": digest, "slug": event_slug}).first()
        row, event = (row[:5], row[5]) if row is not None else (None, None)
    if row is None:
        return None
    organizer, token_id, token_hash, revoked_at, last_used_at = row
    if revoked_at is not None or not hmac.compare_digest(token_hash, digest) or not organizer.is_active_account:
        return None
    stale = last_used_at is None or now - last_used_at >= TOKEN_TOUCH_INTERVAL
    return ResolvedToken(organizer, token_id, stale, event)


def resolve_token(token: str, now: datetime | None = None) -> Organizer | None:
    from ..core.clock import now_utc

    found = resolve_token_row(token, now or now_utc())
    return found.organizer if found else None


def touch_token(token_id: int, now: datetime) -> None:
    """Note the token's use, unless another request did within the last minute."""
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id,
               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOKEN_TOUCH_INTERVAL))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False))
