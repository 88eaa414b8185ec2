"""Property-based tests against the app's own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, sent with the
token of an account that may call it; no answer may be a 5xx, and every answer
must match what the document promises (status code, content type, body schema).

The slow tests run every phase, stateful sequences included (an answer's ids fed into later
requests), with an admin's and a shop's token on SQLite and PostgreSQL, and check one thing only:
no answer is a 5xx.

One check is left out of the default run: "schema-valid data is accepted". A request can match the
schema and still break a domain rule the schema cannot express (a parent for a
shop, an unknown cylinder, an inspection due before it was done); those answer
422 with the reason, as docs/api.md says. And for the batch, "schema-violating
data is refused" holds per item, not per request: an invalid item is answered
`rejected` in its result so that it never blocks the others.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import checks
from hypothesis import HealthCheck, settings

from api.app import create_app
from ledger.config import Settings

from .conftest import World

MAX_EXAMPLES = 12


def _account(method: str, path: str) -> str:
    """The account whose role may call this operation, so generation reaches past the 403."""
    if path.startswith("/v1/end-users"):
        return "shop" if method == "POST" else "inspector"
    if path.startswith("/v1/events") and method == "POST":
        return "station"
    if path == "/v1/cylinders" and method == "POST":
        return "company"
    return "admin"


class CurrentApp:
    """An ASGI app that forwards to the app of the current test's world (one per backend)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


# The document does not depend on the database, so it is read once from an app with none behind it.
CURRENT = CurrentApp(create_app(Settings(database_url="sqlite://")))
# The HTML pages (api.pages) share the app but not this contract; tests/pages covers them.
schema = schemathesis.openapi.from_asgi("/openapi.json", CURRENT).include(path_regex=r"^/(v1/|healthz)")


@pytest.fixture
def served(shared_world: World) -> World:
    CURRENT.app = shared_world.client.app
    return shared_world


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_operation_keeps_its_promises(case, served: World) -> None:
    headers = served.auth(_account(case.method.upper(), case.path))
    excluded = [checks.positive_data_acceptance]
    if case.path == "/v1/events/batch":
        excluded.append(checks.negative_data_rejection)
    case.call_and_validate(headers=headers, excluded_checks=excluded)


# The heavy run: every phase (examples, coverage, fuzzing, and stateful sequences that feed one answer's
# ids into the next request) with an admin's and a shop's token, on each backend. No answer may be a 5xx.
HEAVY_EXAMPLES = 60


@pytest.mark.slow
@pytest.mark.parametrize("account", ["admin", "shop"])
@schema.parametrize()
@settings(max_examples=HEAVY_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_answers_5xx_to_an_admin_or_a_shop(case, served: World, account: str) -> None:
    response = case.call(headers=served.auth(account))
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"


@pytest.mark.slow
@pytest.mark.parametrize("account", ["admin", "shop"])
def test_no_sequence_of_requests_answers_5xx(served: World, account: str) -> None:
    class Sequences(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": served.auth(account)}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"

    Sequences.run(settings=settings(max_examples=HEAVY_EXAMPLES, stateful_step_count=8, deadline=None,
                                    derandomize=True, suppress_health_check=list(HealthCheck)))
