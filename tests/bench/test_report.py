"""How ``make bench`` turns its measurements into numbers and verdicts: the median round (bench/run.py) and the
targets of issue 9 in docs/PERFORMANCE.md (bench/report.py), on made-up runs."""

from __future__ import annotations

import pytest

from bench.report import render
from bench.run import middle


@pytest.fixture(autouse=True)
def _transaction():
    """No database here: replaces the suite's per-test transaction."""
    yield


def test_middle_is_the_round_with_the_median_p95():
    rounds = [{"p95_ms": 140.0, "round": 1}, {"p95_ms": 80.0, "round": 2}, {"p95_ms": 95.0, "round": 3}]
    assert middle(rounds)["round"] == 3
    assert middle(rounds[:2])["round"] == 2  # the lower middle of an even number
    assert middle(rounds[:1])["round"] == 1


def _page(name: str, p95: float, floor_p95: float = 60.0, rounds: list[float] | None = None) -> dict:
    page = {"name": name, "url": "/", "user": "bench-bureau", "rows": 50, "p50_ms": p95 * 0.8, "p95_ms": p95,
            "p99_ms": p95 * 1.1, "max_ms": p95 * 1.5, "requests": 1000, "rps": 200.0, "errors": 0, "queries": 3,
            "floor_list_p95_ms": floor_p95, "floor_list_p50_ms": floor_p95 * 0.8,
            "ratio_p95": round(p95 / floor_p95, 2)}
    if rounds is not None:
        page["p95_rounds_ms"] = rounds
    return page


def _run(database: str, scale: str, pages: list[dict], rounds: int = 3) -> dict:
    bare = {"p50_ms": 5.0, "p95_ms": 8.0, "rps": 2800.0}
    return {
        "database": database, "scale": scale, "workers": 2, "connections": 16, "duration_s": 10, "rounds": rounds,
        "when": "2026-12-04T17:00:00+00:00", "generate_s": 20.0,
        "machine": {"cpu": "test CPU", "cores": 2, "memory_gib": 8, "os": "Linux", "python": "3.11",
                    "database": "SQLite 3.40", "gunicorn": "gunicorn 23", "wrk": "wrk 4.1"},
        "cpu_probe_ms": {"start": 100.0, "end": 110.0},
        "pages": pages,
        "floor": {"bare": bare, "lists": {"50": {"p50_ms": 48.0, "p95_ms": 60.0, "rps": 250.0}}},
        "exports": [{"name": "reconciliation workbook", "url": "/x.xlsx", "user": "bench-bureau", "status": 200,
                     "bytes": 2048, "median_s": 0.4, "max_s": 0.5, "queries": 8}],
        "peak_memory_mib": [120.0, 130.0],
    }


def _target(text: str, target: str, run: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {target}") and f"| {run} |" in line)


def test_targets_are_judged_from_the_numbers():
    city = _run("sqlite", "city", [_page("ranking", 70.0, rounds=[70.0, 65.0, 120.0]),
                                   _page("audit-log search", 130.0, floor_p95=60.0) | {"queries_remembered": 2}])
    province = _run("sqlite", "province", [_page("ranking", 150.0), _page("audit-log search", 400.0)])
    text = render({("sqlite", "city"): city, ("sqlite", "province"): province})

    slowest = _target(text, "no key page over 100 ms p95", "sqlite · city")
    assert "**missed**" in slowest and "audit-log search 130.0 ms" in slowest
    assert "**missed**" in _target(text, "each key page within 2×", "sqlite · city")  # 130 / 60
    assert "met" in _target(text, "reconciliation workbook under 2 s", "sqlite · city")
    assert "met" in _target(text, "a worker under 200 MB", "sqlite · city")
    assert "shown only" in _target(text, "each key page within 2×", "sqlite · province")
    province_ratio = _target(text, "province key pages within 3× city p95", "sqlite · province")
    assert "**missed**" in province_ratio and "audit-log search ×3.08" in province_ratio
    assert "in each of 3 rounds" in text
    assert "| ranking | 50 | 56.0 | 70.0 | 70, 65, 120 |" in text  # every round's p95 next to the median one
    assert "| 1.17 | 3 | 0 |" in text and "| 2.17 | 3 (2) | 0 |" in text  # statements, then those of a repeat view


def test_a_run_within_every_target_is_met_throughout():
    city = _run("postgresql", "city", [_page("ranking", 70.0), _page("monthly grid", 99.0)])
    targets = render({("postgresql", "city"): city}).split("## Targets", 1)[1].split("\n## ", 1)[0]
    verdicts = [line for line in targets.splitlines() if line.startswith("| ") and "· city" in line]
    assert len(verdicts) == 5
    assert not any("missed" in line for line in verdicts)
