"""``/api/v1``: wires every feature's JSON calls and serves the OpenAPI document.

The document is generated from the declared operations (see :mod:`eventsvc.jsonapi`)
by apispec, with schemas produced by pydantic from the same models that validate
requests — so the contract and the code cannot drift apart.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from pydantic import BaseModel

from .. import MAX_URL_ID
from ..auth import api as _auth_api  # noqa: F401  (registers the organizer bearer scheme)
from ..checkin import api as _checkin_api  # noqa: F401  (also the staff bearer scheme)
from ..events import api as _events_api  # noqa: F401
from ..jsonapi import OPERATIONS, ErrorBody, adapter, api, body_optional
from ..outbox import api as _outbox_api  # noqa: F401
from ..registration import api as _registration_api  # noqa: F401  (also the attendee bearer scheme)
from ..registration import privacy_api as _privacy_api  # noqa: F401  (DELETE /registrations/{id})
from ..slack import api as _slack_api  # noqa: F401
from ..surveys import api as _surveys_api  # noqa: F401
from ..teams import api as _teams_api  # noqa: F401

bp = api

_RULE_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _version() -> str:
    try:
        return version("eventsvc")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class _Schemas:
    def __init__(self, spec: APISpec):
        self.spec = spec
        self.known: set[str] = set()

    def _register(self, name: str, schema: dict) -> None:
        if name not in self.known:
            self.known.add(name)
            self.spec.components.schema(name, schema)

    def ref(self, tp: Any, mode: str) -> dict:
        js = adapter(tp).json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for name, sub in js.pop("$defs", {}).items():
            self._register(name, sub)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            self._register(tp.__name__, js)
            return {"$ref": f"#/components/schemas/{tp.__name__}"}
        return js


def _error_statuses(op) -> set[int]:
    """The error statuses a call may answer: what it declares, plus what the plumbing itself
    answers (a malformed request 400, no token 401, an unknown path value 404, a body that is not
    JSON 415 or too large 413, a body or query that does not fit 422)."""
    codes = set(op.errors) | {400}
    if op.auth and not op.auth_optional:
        codes.add(401)
    if _RULE_ARG.search(op.rule):
        codes.add(404)
    if op.body is not None:
        codes |= {413, 415, 422}
    if op.query is not None:
        codes.add(422)
    return codes


@cache
def openapi_document() -> dict:
    spec = APISpec(
        title="eventsvc API",
        version=_version(),
        openapi_version="3.1.0",
        info={"description": "Study sessions and workshops: events, registration, check-in, teams, surveys, Slack. "
                             "Errors are `{error, message, fields}` with a 4xx status. Datetimes are ISO 8601; "
                             "without an offset they mean Japan time."},
        servers=[{"url": "/api/v1"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    schemas = _Schemas(spec)
    error_ref = schemas.ref(ErrorBody, "serialization")
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path = _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", op.rule)
        params = [
            {"name": m.group(2), "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_URL_ID} if m.group(1) == "int"
             else {"type": "string"}}
            for m in _RULE_ARG.finditer(op.rule)
        ]
        if op.query is not None:
            qs = adapter(op.query).json_schema(mode="validation")
            required = set(qs.get("required", []))
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        responses: dict[str, Any] = {}
        if op.status == 204 or op.response is None:
            responses[str(op.status)] = {"description": "done"}
        else:
            responses[str(op.status)] = {"description": "OK",
                                         "content": {"application/json": {"schema": schemas.ref(op.response, "serialization")}}}
        for code in sorted(_error_statuses(op)):
            responses[str(code)] = {"description": "error", "content": {"application/json": {"schema": error_ref}}}
        operation: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary, "tags": op.tags,
                                     "responses": responses}
        if op.description:
            operation["description"] = op.description
        if params:
            operation["parameters"] = params
        if op.body is not None:
            operation["requestBody"] = {"required": not body_optional(op.body), "content": {
                "application/json": {"schema": schemas.ref(op.body, "validation")}}}
        if op.auth:
            operation["security"] = ([{}] if op.auth_optional else []) + [{"bearer": []}]
        paths.setdefault(path, {})[op.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@api.route("/openapi.json")
def openapi_json():
    return openapi_document()
