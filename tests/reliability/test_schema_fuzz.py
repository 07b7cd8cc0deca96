"""Schema-driven fuzzing with schemathesis: every operation of ``spec/openapi.yaml`` against
a real service process, with every check schemathesis has (no 5xx, status codes, content
types, headers and bodies as documented, schema-valid requests accepted, schema-invalid ones
rejected, unsupported methods refused with ``Allow``), positive and negative generation.

A schema cannot say that an upload body must be a sealed blob, that a content address
must be the body's SHA-256, or that ``epoch`` and ``group_state_hash`` come together: in
positive cases the body is replaced by a real blob (still a schema-valid binary string),
the ``{sha256}`` path segment is set to its address, and a lone half of the pair is first
checked to be refused as ``invalid-query`` and then completed. So "schema-valid but
refused" means a real disagreement between the document and the service.
Lane uploads with a generated lane id and signature are schema-valid and correctly refused
with 401/403, which the positive check allows.

CI: ``RELIABILITY_SCHEMA_EXAMPLES`` (default 10) examples per operation and mode. Longer:
``scripts/reliability.sh schema --examples 2000``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode

from invitekit.blob import seal
from invitekit.protocol import b64url

from .harness import Service, SqliteBackend, env_int, record_figures
from .parsers import REPO

EXAMPLES = env_int("RELIABILITY_SCHEMA_EXAMPLES", 10)
SCHEMA = schemathesis.openapi.from_path(REPO / "spec" / "openapi.yaml")
SCHEMA.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
)
TALLY: dict[str, int] = {"requests": 0, "5xx": 0}
STATUSES: dict[int, int] = {}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(SqliteBackend(), tmp_path_factory.mktemp("schema"),
                  ["--no-rate-limits-enabled", "--no-access-log"])
    svc.start()
    yield svc
    svc.stop()
    record_figures("schema-fuzz", {**TALLY, "statuses": dict(sorted(STATUSES.items())),
                                   "examples_per_operation": EXAMPLES})
    assert svc.log_text().count('"level":"error"') == 0


def _coherent_upload(case: Any) -> None:
    """Positive upload cases carry a real blob (and its content address)."""
    if case.method.upper() not in ("POST", "PUT") or case.meta is None:
        return
    if not case.meta.generation.mode.is_positive:
        return
    body = seal(os.urandom(48), os.urandom(32), epoch=int.from_bytes(os.urandom(2), "big"),
                group_state_hash=os.urandom(32)).to_bytes()
    case.body = body
    if case.path_parameters and "sha256" in case.path_parameters:
        case.path_parameters["sha256"] = hashlib.sha256(body).hexdigest()


PAIR = ("epoch", "group_state_hash")


def _coherent_match(case: Any, base_url: str) -> None:
    """The schema states in prose that ``epoch`` and ``group_state_hash`` come together
    (OpenAPI parameters cannot express the dependency). A positive case with only one of
    them must be refused as ``invalid-query``; it is then completed and fuzzed as usual."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not case.query:
        return
    present = [name for name in PAIR if name in case.query]
    if len(present) != 1:
        return
    response = case.call(base_url=base_url)
    TALLY["requests"] += 1
    assert response.status_code == 400, response.status_code
    assert response.json()["type"].endswith(":invalid-query")
    if "epoch" in case.query:
        case.query["group_state_hash"] = b64url(os.urandom(32))
    else:
        case.query["epoch"] = str(int.from_bytes(os.urandom(8), "big"))


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: Any, fuzz_target: Service) -> None:
    _coherent_upload(case)
    _coherent_match(case, fuzz_target.base_url)
    response = case.call(base_url=fuzz_target.base_url)
    TALLY["requests"] += 1
    STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
    if response.status_code >= 500:
        TALLY["5xx"] += 1
    case.validate_response(response)
