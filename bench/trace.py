"""The trace of a cylinder (the inspector's one screen), next to reading its rows bare.

    python bench/trace.py [--size small|medium|large | --events N] [--samples 500] [--backend ...] [--keep DIR]

On a demo city, for a random sample of its cylinders (clean ones and those with
planted findings alike), times ``Ledger.trace`` (replay in time order, custody
intervals, findings, chain status) in process, then GET /v1/cylinders/{id}/trace
through the ASGI app (auth, JSON). The ceiling is the least any trace must do:
read the cylinder's event rows with the bare driver, in seq order.
"""

from __future__ import annotations

import random

from common import City, line, mark, measure, raw_cursor, standalone

from ledger.domain import Role


def run(city: City, samples: int = 500) -> list[str]:
    rng = random.Random(1)
    codes = rng.sample(city.codes, min(samples, len(city.codes)))
    ledger = city.ledger
    with raw_cursor(ledger) as cursor:
        sql = f"SELECT * FROM events WHERE cylinder = {mark(ledger)} ORDER BY seq"
        ceiling = measure(codes, lambda code: cursor.execute(sql, (code,)).fetchall())
    with ledger.db.reading() as connection:
        service = measure(codes, lambda code: ledger.trace(connection, code))
    lines = [line("trace, in process", service, "traces", ceiling, "the chain's rows, bare driver")]
    http = _over_http(city, codes)
    if http is not None:
        lines.append(line("trace over HTTP", http, "traces", ceiling, "the chain's rows, bare driver"))
    return lines


def _over_http(city: City, codes: list[str]):
    import warnings

    with warnings.catch_warnings():  # starlette's note about its own client is not ours to fix
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(city.ledger.settings, city.ledger)
    if "/v1/cylinders/{cylinder_id}/trace" not in app.openapi()["paths"]:
        return None
    with city.ledger.db.writing() as connection:
        token = city.ledger.create_account(connection, role=Role.REGULATOR, party=None, name="bench: trace")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        def fetch(code: str) -> None:
            answer = client.get(f"/v1/cylinders/{code}/trace")
            assert answer.status_code == 200, answer.text
        return measure(codes, fetch)


def main() -> None:
    standalone(__doc__, run, 500)


if __name__ == "__main__":
    main()
