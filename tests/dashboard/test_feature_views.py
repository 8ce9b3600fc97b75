"""The read endpoints behind the drift page: drift history and reference-vs-current distributions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from seed import MODEL, ROWS, WINDOW, WINDOWS, seed, settings

from support import ServerThread


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    """The seeded server's URL and the start of its first window."""
    path = tmp_path_factory.mktemp("views") / "driftline.db"
    with ServerThread(settings(f"sqlite:///{path}")) as server:
        t0 = seed(server.url).t0
        yield server.url, t0


def test_history_lists_every_window_oldest_first_and_filters(served: tuple[str, float]) -> None:
    url, t0 = served
    body = httpx.get(f"{url}/api/v1/models/{MODEL}/drift/history", params={"version": "v2"}).json()
    assert body["total"] == 2 * WINDOWS
    assert [(r["feature"], r["window_end"], r["drift_detected"]) for r in body["items"]] == [
        (feature, t0 + k * WINDOW, feature == "income") for k in range(1, WINDOWS + 1) for feature in ("income", "plan")
    ]
    one = httpx.get(
        f"{url}/api/v1/models/{MODEL}/drift/history",
        params={"version": "v2", "feature": "income", "start": t0 + (WINDOWS - 1) * WINDOW, "limit": 5},
    ).json()
    assert [(r["feature"], r["window_end"], r["n"]) for r in one["items"]] == [("income", t0 + WINDOWS * WINDOW, ROWS)]


def test_distribution_puts_the_newest_window_on_the_reference_bins(served: tuple[str, float]) -> None:
    url, t0 = served
    income = httpx.get(f"{url}/api/v1/models/{MODEL}/distribution", params={"version": "v2", "feature": "income"}).json()
    reference, current = income["reference"], income["current"]
    assert reference["kind"] == "numeric"
    assert sum(reference["counts"]) == 2000
    assert len(reference["counts"]) == len(reference["edges"]) + 1
    assert len(current["counts"]) == len(reference["counts"])
    assert sum(current["counts"]) == ROWS
    assert current["window_end"] == t0 + WINDOWS * WINDOW
    # shifted by two standard deviations: most of the window lies above the reference's top edge
    assert current["counts"][-1] > ROWS / 2
    plan = httpx.get(f"{url}/api/v1/models/{MODEL}/distribution", params={"version": "v2", "feature": "plan"}).json()
    assert plan["reference"]["categories"] == ["basic", "pro", "__other__"]
    assert sum(plan["current"]["counts"]) == ROWS
    assert plan["current"]["counts"][-1] == 0


def test_distribution_of_an_unknown_feature_is_a_404_naming_it(served: tuple[str, float]) -> None:
    url, _ = served
    response = httpx.get(f"{url}/api/v1/models/{MODEL}/distribution", params={"version": "v2", "feature": "nope"})
    assert response.status_code == 404
    assert "'nope'" in response.json()["detail"]
    missing = httpx.get(f"{url}/api/v1/models/{MODEL}/distribution", params={"version": "v2"})
    assert missing.status_code == 422
