"""Property-based fuzzing of the whole OpenAPI surface with schemathesis, in CI.

Every operation of `/openapi.json` is called with the regulator's, a funder's and a platform's
API keys, on a gateway of its own (the API suite's cast, the backend of `tests/backends.py`),
with requests schemathesis generates from the document: values that fit it (positive) and
values that break it (negative). A fixed seed and a bounded number of examples per operation,
role and mode keep the run reproducible and within about two minutes on two cores.

It fails on any 5xx and on any answer that does not match what the document declares for its
status (`response_schema_conformance`; errors are `ErrorResponse`), and prints its figures:
requests sent, 5xx seen, schema mismatches, by operation.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import Env, auth, make_env, make_gateway

pytestmark = pytest.mark.slow

SEED = 20_261_201
#: examples per operation, role and generation mode (LEDGER_FUZZ_EXAMPLES to go further)
EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "12"))
ROLES = ("regulator", "bank1", "p1")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class Figures:
    requests: int = 0
    unsatisfiable: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    per_operation: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def fuzz_env() -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        gw = make_gateway(Path(tmp))
        try:
            yield make_env(gw)
        finally:
            gw.close()


def _fuzz(
    operation: schemathesis.APIOperation,
    headers: dict[str, str],
    mode: GenerationMode,
    figures: Figures,
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is reported
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def run(case: schemathesis.Case) -> None:
        figures.requests += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: a 500 for any real client
            figures.server_errors.append(f"{label} [{mode.value}] raised {exc!r}"[:600])
            return
        figures.per_operation[label] += 1
        figures.by_status[response.status_code] += 1
        if response.status_code >= 500:
            figures.server_errors.append(
                f"{label} [{mode.value}] {response.status_code}: {response.text[:300]}\n"
                f"    {case.as_curl_command()[:600]}"
            )
            return
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except AssertionError as exc:  # schemathesis' FailureGroup is one
            figures.mismatches.append(f"{label} [{mode.value}] {response.status_code}: {exc}"[:800])

    started = time.monotonic()
    try:
        run()
    except hypothesis.errors.Unsatisfiable:  # nothing to break (negative mode, no parameters)
        figures.unsatisfiable += 1
    figures.seconds[label] += time.monotonic() - started


def test_openapi_surface_has_no_server_errors_and_matches_its_schema(
    fuzz_env: Env, figures: Callable[[str], None]
) -> None:
    app = fuzz_env.http.app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [f"{o.method} {o.path}" for o in operations]
    tally = Figures()
    for operation in operations:
        for role in ROLES:
            key = fuzz_env.regulator_key if role == "regulator" else fuzz_env[role].key
            for mode in MODES:
                _fuzz(operation, auth(key), mode, tally)
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.by_status.items()))
    figures(
        f"schemathesis: {tally.requests} requests over {len(operations)} operations"
        f" x {len(ROLES)} roles x {len(MODES)} modes (seed {SEED}, {EXAMPLES} examples each);"
        f" 5xx: {len(tally.server_errors)}; schema mismatches: {len(tally.mismatches)}"
        f"; statuses: {statuses}"
    )
    slowest = ", ".join(f"{op} {t:.1f} s" for op, t in tally.seconds.most_common(5))
    print(f"slowest operations: {slowest}")
    for line in tally.server_errors[:20] + tally.mismatches[:20]:
        print(line)
    assert tally.requests >= len(operations) * len(ROLES)
    assert not tally.server_errors, tally.server_errors[:5]
    assert not tally.mismatches, tally.mismatches[:5]
