"""Fuzzing the JSON API from its own OpenAPI document (schemathesis), on SQLite and PostgreSQL.

Every operation of ``/api/v1/openapi.json`` gets generated requests that fit the schema and
requests that do not, each sent anonymously or with an organizer, attendee or staff token;
path parameters are now and then replaced by real rows (the seeded event, registration, staff
link) so that the calls reach the code behind the lookups. Every response must be a non-5xx
answer that the document declares (status, content type, body schema), and a request that
breaks the schema must be refused (4xx).
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.robust_support import build_world, isolated_wsgi

#: examples per operation and generation mode (about 50 operations × 2 modes × 2 backends)
MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def world(make):
    return build_world(make, with_admin=False)


def _fuzz(app, world) -> tuple[list[str], int]:
    """Run every operation; the failures (one report per operation and mode) and how many calls."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", isolated_wsgi(app))
    tokens = {"anonymous": None, "organizer": world.owner_token, "attendee": world.reg_a.attendee_token,
              "staff": world.staff_token}
    real = {"slug": world.event.slug, "reg_id": world.reg_a.id, "registration_id": world.reg_b.id,
            "link_id": world.staff_link.id}
    failures: list[str] = []
    calls = 0
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 40, "the document lost its operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = st.tuples(operation.as_strategy(generation_mode=mode), st.sampled_from(sorted(tokens)),
                                 st.booleans())

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def run(args):
                nonlocal calls
                case, who, use_real = args
                # what a negative case made invalid stays invalid: no real row put in a broken
                # path, no token added where the header was the broken part
                negated = {str(getattr(loc, "value", loc)) for loc, info in (case.meta.components or {}).items()
                           if info.mode == GenerationMode.NEGATIVE} if case.meta else set()
                if use_real and case.path_parameters and "path" not in negated:
                    for name in case.path_parameters:
                        if name in real:
                            case.path_parameters[name] = real[name]
                headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] and "header" not in negated else {}
                calls += 1
                case.call_and_validate(headers=headers, checks=CHECKS + ([negative_data_rejection] if negated else []))

            try:
                run()
            except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - collected: every operation gets its turn
                text = str(err)
                if "Unsatisfiable" in type(err).__name__ or "negative" in text.lower() and "cannot" in text.lower():
                    continue
                failures.append(f"{operation.label} [{mode.value}]: {type(err).__name__}: {text[:3000]}")
    return failures, calls


def test_schemathesis_finds_no_server_error_and_no_undeclared_answer(app, world):
    started = time.monotonic()
    failures, calls = _fuzz(app, world)
    assert calls >= 1500
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
    assert time.monotonic() - started < 120
