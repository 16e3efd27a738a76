"""The JSON API's plumbing: one ``/api/v1`` blueprint, typed operations, bearer auth.

Feature packages declare their calls in their own ``api.py`` with :func:`operation`;
the body and query are pydantic models (validated here, 422 with ``fields`` on
failure), the result is serialised here, and each operation is recorded so that
``eventsvc.api`` can generate the OpenAPI document from the code.

Auth schemes (organizer token, staff token, attendee token) are registered by the
packages that own them with :func:`register_auth`, so this module knows none of them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from werkzeug.exceptions import BadRequest

from . import database
from .core.clock import INSTANT_YEARS, to_utc
from .core.kept import Kept
from .core.text import TextError, check_text
from .errors import AuthorityChanged, DomainError, ValidationFailed

api = Blueprint("api", __name__, url_prefix="/api/v1")


# ---------------------------------------------------------------- input types
def _text(max_length: int, multiline: bool = False):
    def check(value: str) -> str:
        try:
            return check_text(value, max_length=max_length, multiline=multiline)
        except TextError as err:
            # a type of our own: pydantic's "too_long" (a list with too many items, 多すぎます) must not
            # take the place of the text's message (100文字以内で入力してください。)
            raise PydanticCustomError(f"text_{err.code}", err.message) from None

    return AfterValidator(check)


_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _not_a_number(value):
    """An ISO 8601 text or nothing: pydantic would read a number as Unix seconds."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise PydanticCustomError("datetime_type", "日時（ISO 8601）で指定してください。")
    return value


def _in_range(value: datetime) -> datetime:
    """Checked before anything converts it: near year 1 or 9999 the conversion itself overflows."""
    first, last = INSTANT_YEARS
    if not first <= value.year <= last or not first <= to_utc(value).year <= last:
        raise PydanticCustomError("datetime_range", f"{first}年から{last}年までの日時で指定してください。")
    return value


#: a date-time in a request body: ISO 8601 (without an offset: Japan time), years 2000–2100
Instant = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_range)]
ShortText = Annotated[str, _text(200)]
LongText = Annotated[str, _text(20000, multiline=True)]
Url = Annotated[str, _text(2000)]


def Text(max_length: int, multiline: bool = False):  # noqa: N802 - reads like a type
    return Annotated[str, _text(max_length, multiline)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused, strings are not coerced from numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Output):
    """Every error the API answers: a code, a message, and the fields to blame ({} when none)."""

    error: str = Field(description="a stable code, e.g. registration_not_found")
    message: str = Field(description="what went wrong, in Japanese")
    fields: dict[str, str] = Field(description="field key (dotted: answers.0.value) → message; {} when none")


_MESSAGES = {
    "missing": "必須項目です。",
    "string_type": "文字列で指定してください。",
    "int_type": "整数で指定してください。",
    "int_parsing": "整数で指定してください。",
    "int_from_float": "整数で指定してください。",
    "float_type": "数値で指定してください。",
    "float_parsing": "数値で指定してください。",
    "bool_type": "true か false で指定してください。",
    "bool_parsing": "true か false で指定してください。",
    "none_required": "null で指定してください。",
    "datetime_type": "日時（ISO 8601）で指定してください。",
    "datetime_parsing": "日時（ISO 8601）で指定してください。",
    "datetime_from_date_parsing": "日時（ISO 8601）で指定してください。",
    "extra_forbidden": "この項目は指定できません。",
    "literal_error": "指定できない値です。",
    "enum": "指定できない値です。",
    "list_type": "配列で指定してください。",
    "dict_type": "オブジェクトで指定してください。",
    "model_type": "オブジェクトで指定してください。",
    "model_attributes_type": "オブジェクトで指定してください。",
    "greater_than_equal": "値が小さすぎます。",
    "less_than_equal": "値が大きすぎます。",
    "string_too_long": "長すぎます。",
    "string_too_short": "短すぎます。",
    "too_long": "多すぎます。",
    "too_short": "少なすぎます。",
    "string_pattern_mismatch": "形式が正しくありません。",
}

#: what a value that passes each type check is called: one message for the members of a union
#: ("整数・文字列・文字列の配列のいずれかで指定してください。")
_KINDS = {
    "int_type": "整数", "int_parsing": "整数", "int_from_float": "整数",
    "float_type": "数値", "float_parsing": "数値",
    "string_type": "文字列",
    "bool_type": "true / false", "bool_parsing": "true / false",
    "none_required": "null",
    "list_type": "配列",
    "dict_type": "オブジェクト", "model_type": "オブジェクト", "model_attributes_type": "オブジェクト",
    "datetime_type": "日時（ISO 8601）", "datetime_parsing": "日時（ISO 8601）",
    "datetime_from_date_parsing": "日時（ISO 8601）",
}
_LIST_OF = {"list[str]": "文字列の配列", "list[int]": "整数の配列"}
#: error types whose last location element names a key the input does not have
_ABSENT_KEY = frozenset({"missing"})
#: ``validation_fields(data=…)`` left out: the input is not known, every location element is kept
UNKNOWN = object()


@dataclass
class _Problem:
    key: str
    message: str
    type: str
    #: the unions this error came through: (the union's key, its raw location, the member's tag)
    unions: list[tuple[str, tuple, str]]


def _message(e: dict) -> str:
    """The Japanese message: ours for pydantic's types; a validator's own text without pydantic's
    "Value error, " / "Assertion failed, " in front."""
    if e["type"] in ("value_error", "assertion_error"):
        text = str((e.get("ctx") or {}).get("error") or "")
        if text:
            return text
    message = _MESSAGES.get(e["type"], e["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _key(root: str, path: list) -> str:
    return ".".join(str(p) for p in ([root] if root else []) + path) or "body"


def _strip_union_tags(e: dict, data: Any, root: str, tagged: frozenset[tuple] = frozenset()
                      ) -> tuple[list, list[tuple[str, tuple, str]]]:
    """The error's location without the names pydantic adds for union members (``int``, ``str``,
    ``list[str]``, ``function-after[…]``, a model's name, a discriminator's value…), and the
    unions it went through: ``(key, raw location of the union, member tag)``.

    The location is walked along the input itself: a string that is neither a key of the
    object at that point nor (for ``missing``) the last element naming an absent key cannot
    be a field of what was sent, so it is a union member's tag. Indices are never tags.
    ``tagged`` holds the raw locations found to be unions that way: there every string is a
    tag, even one that happens to be a key of the object sent (``{"value": {"int": 1}}``)."""
    loc = e["loc"]
    path: list = []
    unions: list[tuple[str, tuple, str]] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(part, str) and tuple(loc[:i]) in tagged:
            unions.append((_key(root, path), tuple(loc[:i]), part))
        elif cur is UNKNOWN:
            path.append(part)
        elif isinstance(part, int):
            path.append(part)
            cur = cur[part] if isinstance(cur, (list, tuple)) and -len(cur) <= part < len(cur) else UNKNOWN
        elif isinstance(cur, dict) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and i == len(loc) - 1 and e["type"] in _ABSENT_KEY:
            path.append(part)  # a required key that was left out
            cur = UNKNOWN
        else:
            unions.append((_key(root, path), tuple(loc[:i]), part))
    return path, unions


def _kind(problem: _Problem, union_key: str) -> str | None:
    tag = next((t for k, _loc, t in reversed(problem.unions) if k == union_key), "")
    if problem.type == "list_type" and tag in _LIST_OF:
        return _LIST_OF[tag]
    return _KINDS.get(problem.type)


def _closest_members(problems: list[_Problem]) -> list[_Problem]:
    """When the input had the shape of some members of a union (say a list, for ``int | str |
    list[str]``) and failed inside them, only those members' errors count: that the other
    members wanted another type says nothing new."""
    members: dict[tuple, dict[str, list[_Problem]]] = {}
    for p in problems:
        for key, loc, tag in p.unions:
            members.setdefault((key, loc), {}).setdefault(tag, []).append(p)
    dropped: set[int] = set()
    for (key, _loc), by_tag in members.items():
        shaped = {tag for tag, its in by_tag.items() if all(p.key != key for p in its)}
        if shaped:
            dropped |= {id(p) for tag, its in by_tag.items() if tag not in shaped for p in its}
    return [p for p in problems if id(p) not in dropped]


def validation_fields(err: ValidationError, root: str = "", data: Any = UNKNOWN) -> dict[str, str]:
    """``{field key: message}``; ``root`` names a body that is a list (``agenda`` → ``agenda.0.title``).

    ``data`` is what was validated: with it, the names pydantic puts into locations for the
    members of a union are left out (``answers.0.value``, not ``answers.0.value.int``), and a
    value that fits no member gets one message naming what would fit."""
    errors = err.errors(include_url=False)
    tagged = frozenset(loc for e in errors for _k, loc, _t in _strip_union_tags(e, data, root)[1])
    problems = []
    for e in errors:
        path, unions = _strip_union_tags(e, data, root, tagged)
        problems.append(_Problem(_key(root, path), _message(e), e["type"], unions))
    by_key: dict[str, list[_Problem]] = {}
    for p in _closest_members(problems):
        by_key.setdefault(p.key, []).append(p)
    fields: dict[str, str] = {}
    for key, its in by_key.items():
        fields[key] = its[0].message
        if len(its) > 1 and all(any(k == key for k, _l, _t in p.unions) for p in its):
            kinds = list(dict.fromkeys(_kind(p, key) for p in its))
            if len(kinds) > 1 and all(kinds):
                fields[key] = "・".join(kinds) + "のいずれかで指定してください。"
    return fields


# ---------------------------------------------------------------- auth
AuthResolver = Callable[[str], Any]
AUTH_SCHEMES: dict[str, AuthResolver] = {}
#: schemes whose resolver also loads the event of the call's ``<slug>`` (``event_slug=``)
EVENT_AWARE_SCHEMES: set[str] = set()


#: ``guard(token, principal, event, now) -> (condition, params)``: an SQL condition (with its bound
#: values) that holds while that caller may still act on that event; see :func:`principal_guard`
PrincipalGuard = Callable[[str, Any, Any, datetime], tuple[Any, dict]]
GUARDS: dict[str, PrincipalGuard] = {}


def register_auth(name: str, resolver: AuthResolver, *, event_aware: bool = False,
                  guard: PrincipalGuard | None = None) -> None:
    """``resolver(token) -> principal | None`` for bearer tokens of one kind. ``event_aware``:
    for an operation declared with ``event_with_principal=True`` it is called as
    ``resolver(token, event_slug=…)`` and should load, with the principal, the event of that
    slug it may act on (:func:`principal_event`): one query instead of two on hot paths.
    ``guard`` (event-aware schemes): lets ``reuse_principal`` operations reuse a caller this
    scheme resolved in a recent call (:func:`principal_guard`)."""
    AUTH_SCHEMES[name] = resolver
    if event_aware:
        EVENT_AWARE_SCHEMES.add(name)
    else:
        EVENT_AWARE_SCHEMES.discard(name)
    if guard is not None and event_aware:
        GUARDS[name] = guard
    else:
        GUARDS.pop(name, None)


def set_principal_event(slug: str, event: Any) -> None:
    """An event-aware resolver's answer: the event of ``slug`` the principal may act on (or None)."""
    g.api_principal_event = (slug, event)


def principal_event(slug: str) -> tuple[bool, Any]:
    """``(True, event or None)`` when the principal's resolver already looked ``slug`` up
    (None: no such event, or not one the principal may act on); ``(False, None)`` otherwise."""
    found = g.get("api_principal_event")
    if found is None or found[0] != slug:
        return False, None
    return True, found[1]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Unauthorized(DomainError):
    status = 401

    def __init__(self):
        super().__init__("unauthorized", "有効なトークンを Authorization: Bearer で指定してください。")


def authenticate(schemes: Iterable[str], optional: bool, event_slug: str | None = None,
                 reuse: bool = False) -> Any:
    token = bearer_token()
    if token is None or len(token) > 512:
        if optional:
            return None
        raise Unauthorized()
    if reuse and event_slug is not None and (found := _reused(token, event_slug, schemes)) is not None:
        return found
    for name in schemes:
        resolver = AUTH_SCHEMES.get(name)
        if resolver is None:
            principal = None
        elif event_slug is not None and name in EVENT_AWARE_SCHEMES:
            principal = resolver(token, event_slug=event_slug)
        else:
            principal = resolver(token)
        if principal is not None:
            if reuse and event_slug is not None and name in GUARDS:
                _remember(name, token, event_slug, principal)
            return principal
    raise Unauthorized()


# ---------------------------------------------------------------- reused callers (the desk's hot path)
#: how long a caller of a ``reuse_principal`` operation, once resolved, is reused by the same server
#: process. Whether they may still act is checked by every call (:func:`principal_guard`); what
#: may be this old is only what the answer shows of them: the organizer's name or the staff
#: link's label (which the check-in log records) and the event's title.
REUSE_SECONDS = 30.0
#: callers kept per process (token × event); the oldest go first
REUSE_MAX = 1024


def _reuse_store() -> Kept:
    return current_app.extensions.setdefault("eventsvc.reused_principals", Kept())


def _reuse_key(token: str, slug: str) -> tuple[bytes, str]:
    return hashlib.sha256(token.encode()).digest(), slug  # never the token itself


def _remember(scheme: str, token: str, slug: str, principal: Any) -> None:
    """Keep column copies of a freshly resolved caller and of their event (if they may act on it)."""
    known, event = principal_event(slug)
    if not known or event is None:
        return
    who, what = database.loaded_columns(principal), database.loaded_columns(event)
    if who is None or what is None:
        return
    _reuse_store().put(_reuse_key(token, slug), (scheme, type(principal), who, type(event), what),
                       seconds=REUSE_SECONDS, limit=REUSE_MAX)


def _reused(token: str, slug: str, schemes: Iterable[str]) -> Any:
    """The recent caller behind ``token`` for ``slug``, as detached copies (None: not kept, or too old)."""
    from .core.clock import now_utc

    key = _reuse_key(token, slug)
    entry = _reuse_store().get(key)
    if entry is None:
        return None
    scheme, principal_cls, who, event_cls, what = entry
    if scheme not in schemes:
        _reuse_store().forget(key)
        return None
    principal, event = database.detached(principal_cls, who), database.detached(event_cls, what)
    g.api_principal_guard = GUARDS[scheme](token, principal, event, now_utc())
    g.api_principal_reused = key
    set_principal_event(slug, event)
    return principal


def principal_guard() -> tuple[Any, dict] | None:
    """For a ``reuse_principal`` operation: ``(condition, params)`` that its decision must check
    in the statement that takes its lock — raising :class:`~eventsvc.errors.AuthorityChanged`
    when it does not hold — because the caller was reused from a recent call and not looked up
    in this one (None: they were). The check then rides on a query the call makes anyway, under
    the lock: a revoked token or link stops at once, in every process, and the call makes one
    query less."""
    return g.get("api_principal_guard")


def _forget_reused() -> bool:
    """After :class:`AuthorityChanged`: drop the reused caller (True), so the call runs afresh."""
    key = g.pop("api_principal_reused", None)
    if key is None:
        return False
    _reuse_store().forget(key)
    g.pop("api_principal_guard", None)
    g.pop("api_principal_event", None)
    from .extensions import db

    db.session.rollback()
    return True


def principal() -> Any:
    """Who is calling (set by the operation wrapper); None for anonymous calls."""
    return g.get("api_principal")


# ---------------------------------------------------------------- operations
@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    tags: list[str]
    body: Any
    query: type[BaseModel] | None
    response: Any
    status: int
    auth: tuple[str, ...]
    auth_optional: bool
    errors: tuple[int, ...]
    description: str = ""
    extra: dict = field(default_factory=dict)


OPERATIONS: list[Operation] = []


@functools.cache
def adapter(tp: Any) -> TypeAdapter:
    return TypeAdapter(tp)


@functools.cache
def body_optional(model: Any) -> bool:
    """Whether every field of the body has a default: then the body may be left out altogether."""
    try:
        adapter(model).validate_python({})
    except ValidationError:
        return False
    return True


def _no_body() -> bool:
    return not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", "").lower()


def _parse_body(model: Any, root: str = "") -> Any:
    if _no_body() and body_optional(model):  # ``curl -X POST …/approve``: the defaults
        return adapter(model).validate_python({})
    if not request.is_json:
        raise DomainError("unsupported_media_type", "Content-Type: application/json で送信してください。", status=415)
    try:
        data = request.get_json()  # a body of ``null`` is JSON: the schema answers it, as for ``123``
    except RecursionError:
        raise DomainError("malformed_json", "JSON の入れ子が深すぎます。", status=400) from None
    except BadRequest:
        raise DomainError("malformed_json", "JSON として読み取れません。", status=400) from None
    try:
        return adapter(model).validate_python(data)
    except ValidationError as err:
        raise ValidationFailed(validation_fields(err, root, data)) from None
    except RecursionError:
        raise DomainError("malformed_json", "JSON が深すぎます。", status=400) from None


def _parse_query(model: type[BaseModel]) -> BaseModel:
    args = request.args.to_dict()
    try:
        return model.model_validate(args)
    except ValidationError as err:
        raise ValidationFailed(validation_fields(err, data=args)) from None


def _serialise(result: Any, status: int):
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, BaseModel):
        return Response(result.model_dump_json(), status=status, mimetype="application/json")
    if isinstance(result, list) and result and isinstance(result[0], BaseModel):
        body = "[" + ",".join(r.model_dump_json() for r in result) + "]"
        return Response(body, status=status, mimetype="application/json")
    if result is None:
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body: nothing to type
        return response
    response = jsonify(result)
    response.status_code = status
    return response


def operation(
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    tags: Iterable[str] = (),
    body: Any = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    auth: Iterable[str] = (),
    auth_optional: bool = False,
    errors: Iterable[int] = (),
    body_root: str = "",
    before_body: Callable[..., None] | None = None,
    event_with_principal: bool = False,
    reuse_principal: bool = False,
):
    """Declare a JSON call. The view gets ``body=``/``query=`` as parsed models. ``body_root`` names
    a body that is a list in its error keys, as the service names it (``agenda.0.title``).
    ``before_body(**url_args)`` runs after authentication and before the body is read: a refusal
    that makes the body irrelevant (a survey not open yet) answers instead of its field errors.
    ``event_with_principal``: event-aware auth schemes load the event of the rule's ``<slug>`` with the
    caller (see :func:`register_auth`); the view finds it with :func:`principal_event`.
    ``reuse_principal`` (with ``event_with_principal``): a caller resolved by a recent call may be
    reused without a lookup; the view then checks :func:`principal_guard` in its decision."""

    def decorate(fn):
        endpoint = f"{fn.__module__.rsplit('.', 2)[-2]}_{fn.__name__}"

        @functools.wraps(fn)
        def view(**kwargs):
            reuse = reuse_principal
            while True:
                g.api_principal = authenticate(auth_tuple, auth_optional, kwargs.get("slug") if event_with_principal
                                               else None, reuse) if auth_tuple else None
                if before_body is not None:
                    before_body(**kwargs)
                if body is not None:
                    kwargs["body"] = _parse_body(body, body_root)
                if query is not None:
                    kwargs["query"] = _parse_query(query)
                try:
                    return _serialise(fn(**kwargs), status)
                except AuthorityChanged:
                    if not _forget_reused():
                        raise
                    reuse = False  # once more, with a lookup: its answer is the one a fresh call gets

        auth_tuple = tuple(auth)
        api.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
        OPERATIONS.append(
            Operation(rule, method, endpoint, summary, list(tags), body, query, response, status,
                      auth_tuple, auth_optional, tuple(errors), (fn.__doc__ or "").strip())
        )
        return view

    return decorate
