"""Budgets on the command line: ``--budget`` on mint, attenuate and delegate, ``verify --state``
charging it across separate processes, ``verify --reserve`` then ``settle``, and ``budget``
showing what is left. Real processes of the installed console script, one state file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import only_line, run, sign, usage_error, write_request


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    assert run("keyring", "init", "kr.json", cwd=tmp_path).returncode == 0
    for name in ("o", "a", "b"):
        assert run("keygen", "--out", f"{name}.key", cwd=tmp_path).returncode == 0
    assert run("state", "init", "s.db", cwd=tmp_path).returncode == 0
    return tmp_path


def pubkey(d: Path, name: str) -> str:
    return only_line(run("pubkey", f"{name}.key", cwd=d))


def mint(d: Path, *flags: str) -> str:
    return only_line(
        run(
            "mint", "--keyring", "kr.json", "--task-id", "t-pay", "--approved-by", "alice",
            "--statement", "buy search credits", "--holder", pubkey(d, "o"), "--audience", "pay",
            *flags, cwd=d,
        )
    )  # fmt: skip


def pay(d: Path, token: str, key: str, amount: object, *flags: str) -> dict[str, object]:
    request = write_request(d / "r.json", audience="pay", tool="pay.send", args={"amount": amount})
    proof = sign(token, d / f"{key}.key", request)
    result = run(
        "verify", token, "--keyring", "kr.json", "--request", request, "--proof", proof,
        "--state", "s.db", "--json", *flags, cwd=d,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_siblings_share_the_parents_budget_across_processes(shop: Path) -> None:
    root = mint(shop, "--budget", "usd-cents:2000:amount:800")
    children = {}
    for name in ("a", "b"):
        children[name] = only_line(
            run(
                "delegate", root, "--key", "o.key", "--to", pubkey(shop, name),
                "--agent-id", name, "--budget", "usd-cents:1200:amount", cwd=shop,
            )
        )  # fmt: skip
    assert pay(shop, children["a"], "a", 800)["allowed"] is True
    assert pay(shop, children["b"], "b", 800)["allowed"] is True
    denied = pay(shop, children["b"], "b", 401)
    assert denied["code"] == "budget_exceeded"
    balances: list[dict[str, int]] = denied["budgets"]  # type: ignore[assignment]
    assert [(b["remaining"], b["caveat"]) for b in balances] == [(400, 2), (400, 4)]
    assert pay(shop, children["a"], "a", 900)["code"] == "cost_too_high"
    assert pay(shop, children["a"], "a", "5")["code"] == "cost_invalid"
    shown = run("budget", children["a"], "--keyring", "kr.json", "--state", "s.db", cwd=shop)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "usd-cents: 400 of 2000 left, 1600 spent (hop 0, caveat 2)",
        "usd-cents: 400 of 1200 left, 800 spent (hop 1, caveat 4)",
    ]


def test_reserve_then_settle_at_the_actual_cost(shop: Path) -> None:
    token = mint(shop, "--budget", "llm-tokens:5000:max_tokens")
    request = write_request(
        shop / "r.json", audience="pay", tool="llm.complete", args={"max_tokens": 4000}
    )
    proof = sign(token, shop / "o.key", request)
    held = run(
        "verify", token, "--keyring", "kr.json", "--request", request, "--proof", proof,
        "--state", "s.db", "--reserve", cwd=shop,
    )  # fmt: skip
    assert held.returncode == 0, held.stderr
    assert "llm-tokens: 1000 of 5000 left (this call 4000; hop 0, caveat 2)" in held.stdout
    reservation = next(
        line.split()[1] for line in held.stdout.splitlines() if line.startswith("reserved")
    )
    settled = run("settle", reservation, "--state", "s.db", "--cost", "llm-tokens=812", cwd=shop)
    assert settled.returncode == 0, settled.stderr
    assert "charged 812 of 4000 reserved; 4188 of 5000 left" in settled.stdout
    again = usage_error(run("settle", reservation, "--state", "s.db", "--release", cwd=shop))
    assert "unknown_reservation" in again
    doc = json.loads(
        run("budget", token, "--keyring", "kr.json", "--state", "s.db", "--json", cwd=shop).stdout
    )
    assert doc == {
        "budgets": [
            {
                "unit": "llm-tokens",
                "total": 5000,
                "spent": 812,
                "remaining": 4188,
                "hop": 0,
                "caveat": 2,
            }
        ]
    }


def test_release_and_refused_settles(shop: Path) -> None:
    token = mint(shop, "--budget", "usd-cents:100:amount")
    held = pay(shop, token, "o", 60, "--reserve")
    reservation = str(held["reservation"])
    over = usage_error(
        run("settle", reservation, "--state", "s.db", "--cost", "usd-cents=61", cwd=shop)
    )
    assert "over_reservation" in over
    unit = usage_error(run("settle", reservation, "--state", "s.db", "--cost", "usd=1", cwd=shop))
    assert "unknown_unit" in unit
    for bad in ("usd-cents", "usd-cents=-1", "usd-cents=x", "=5"):
        assert "--cost takes UNIT=AMOUNT" in usage_error(
            run("settle", reservation, "--state", "s.db", "--cost", bad, cwd=shop)
        )
    both = run(
        "settle", reservation, "--state", "s.db", "--release", "--cost", "usd-cents=1", cwd=shop
    )
    assert "takes no --cost" in usage_error(both)
    assert usage_error(run("settle", "nothex", "--state", "s.db", cwd=shop))
    released = run("settle", reservation, "--state", "s.db", "--release", cwd=shop)
    assert released.returncode == 0, released.stderr
    assert "charged 0 of 60 reserved; 100 of 100 left" in released.stdout
    assert pay(shop, token, "o", 100)["allowed"] is True


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("usd:1", "takes UNIT:TOTAL:COST"),
        ("usd:1:2:3:4", "takes UNIT:TOTAL:COST"),
        ("usd:-1:amount", "whole number"),
        ("usd:ten:amount", "whole number"),
        ("usd:10:amount:-1", "whole number"),
        (":10:amount", "budget unit"),
        ("usd:10:", "budget cost argument"),
    ],
)
def test_a_bad_budget_flag_is_a_usage_error(shop: Path, spec: str, why: str) -> None:
    result = run(
        "mint", "--keyring", "kr.json", "--task-id", "t", "--approved-by", "a",
        "--statement", "s", "--holder", pubkey(shop, "o"), "--audience", "pay",
        "--budget", spec, cwd=shop,
    )  # fmt: skip
    assert why in usage_error(result)


def test_widening_a_budget_is_refused(shop: Path) -> None:
    token = mint(shop, "--budget", "usd-cents:100:amount")
    wider = run("attenuate", token, "--budget", "usd-cents:101:amount", cwd=shop)
    assert "above the token's 100" in usage_error(wider)
    other = run("attenuate", token, "--budget", "usd-cents:50:3", cwd=shop)
    assert "one unit, one cost" in usage_error(other)


def test_without_state_a_budget_is_state_required(shop: Path) -> None:
    token = mint(shop, "--budget", "calls:10:1")
    request = write_request(shop / "r.json", audience="pay", tool="t", args={})
    proof = sign(token, shop / "o.key", request)
    result = run(
        "verify", token, "--keyring", "kr.json", "--request", request, "--proof", proof,
        "--json", cwd=shop,
    )  # fmt: skip
    assert json.loads(result.stdout)["code"] == "state_required"
    reserve = run(
        "verify", token, "--keyring", "kr.json", "--request", request, "--proof", proof,
        "--reserve", cwd=shop,
    )  # fmt: skip
    assert "--reserve" in usage_error(reserve)
