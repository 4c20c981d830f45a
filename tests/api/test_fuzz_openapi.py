"""Schemathesis over the server's own OpenAPI document: every operation, with cases that
fit its schema and cases that do not, must answer without a 5xx and, where the status is
documented, with a body that matches the documented schema.

Bounded for CI: a fixed seed and a fixed number of examples per operation and mode. The
one operation that revokes a key is left out, since it would revoke the key the fuzzer
calls with.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import ADMIN_SECRET, admin_client

pytestmark = pytest.mark.slow

EXAMPLES_PER_MODE = 6
SEED = 20240611
AUTH = {"Authorization": f"Bearer {ADMIN_SECRET}"}
#: Revoking the fuzzer's own key would turn every later case into a 401.
EXCLUDED = {("DELETE", "/api/v1/keys/{key_id}")}


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    by_status: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _fuzz(operation, mode: GenerationMode, tally: Tally) -> None:
    @seed(SEED)
    @settings(max_examples=EXAMPLES_PER_MODE, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=("explicit", "generate"))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        tally.cases += 1
        response = case.call(headers=AUTH)
        tally.by_status[response.status_code // 100 * 100] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        try:
            case.validate_response(response, checks=[not_a_server_error,
                                                     response_schema_conformance])
        except (AssertionError, FailureGroup) as exc:
            # Recorded rather than raised: shrinking every failure would take minutes.
            detail = str(exc).strip().splitlines()
            tally.failures.append(f"{operation.label} [{mode.value}] {response.status_code}: "
                                  f"{' | '.join(detail[:6])}\n    {case.as_curl_command(AUTH)}")

    try:
        run()
    except Unsatisfiable:
        pass  # no parameters to break: an operation without inputs has no negative cases


# Every operation of the API in one test: it grows with the API, past the suite's
# default limit of 300 s on a busy machine.
@pytest.mark.timeout(1200)
def test_no_operation_answers_5xx_or_breaks_its_schema(runtime):
    with admin_client(runtime) as client:
        document = client.get("/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        schema.app = client.app
        tally = Tally()
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in EXCLUDED:
                continue
            tally.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(operation, mode, tally)
    print(f"\nfuzzed {tally.operations} operations, {tally.cases} cases, "
          f"{tally.server_errors} answered 5xx, {len(tally.failures)} failed a check; "
          f"by status class {dict(sorted(tally.by_status.items()))}")
    assert tally.operations > 100 and tally.cases > tally.operations * 4
    assert not tally.failures, "\n".join(tally.failures)
