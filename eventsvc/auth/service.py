"""Organizer accounts and API tokens: create, authenticate, resolve."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.text import TextError, check_text, normalize_email
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from .models import ApiToken, Organizer

TOKEN_PREFIX = "evt_"
MIN_PASSWORD = 10
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
        raise ValidationFailed({field: "メールアドレスの形式が正しくありません。"}) from None
    if len(email) > 254:
        raise ValidationFailed({field: "メールアドレスが長すぎます。"})
    return email


def create_organizer(email: str, name: str, password: str, *, is_admin: bool = False) -> Organizer:
    email = check_email(email)
    try:
        name = check_text(name, max_length=100)
    except TextError as err:
        raise ValidationFailed({"name": err.message}) from None
    if not name:
        raise ValidationFailed({"name": "名前を入力してください。"})
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed({"password": f"パスワードは{MIN_PASSWORD}文字以上にしてください。"})
    if db.session.scalar(select(Organizer.id).where(Organizer.email == email)):
        raise Conflict("organizer_exists", "このメールアドレスの主催者は既に登録されています。")
    organizer = Organizer(email=email, name=name, password_hash=generate_password_hash(password),
                          is_admin=is_admin)
    db.session.add(organizer)
    db.session.flush()
    return organizer


def authenticate(email: str, password: str, now: datetime) -> Organizer | None:
    """The organizer if the password matches, else None (same work either way)."""
    organizer = db.session.scalar(select(Organizer).where(Organizer.email == normalize_email(email)))
    if organizer is None or not organizer.is_active_account:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(organizer.password_hash, password):
        return None
    organizer.last_login_at = now
    return organizer


def load_session_user(user_id: str) -> Organizer | None:
    """Flask-Login's loader: ``"<id>:<session_version>"``; a stale version logs out."""
    ident, _, version = user_id.partition(":")
    if not ident.isdigit() or not version.isdigit():
        return None
    organizer = db.session.get(Organizer, int(ident))
    if organizer is None or organizer.session_version != int(version) or not organizer.is_active_account:
        return None
    return organizer


def find_organizer(email: str) -> Organizer:
    organizer = db.session.scalar(select(Organizer).where(Organizer.email == normalize_email(email)))
    if organizer is None:
        raise NotFound("organizer_not_found", "その主催者は登録されていません。")
    return organizer


def create_token(organizer: Organizer, name: str = "") -> str:
    """A new API token; returned once in clear, stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(organizer=organizer, name=name[:100], token_hash=hash_token(token),
                            prefix=token[:10]))
    db.session.flush()
    return token


def resolve_token(token: str) -> Organizer | None:
    """The organizer behind a bearer token, or None (unknown, revoked, inactive)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if not row.organizer.is_active_account:
        return None
    return row.organizer
