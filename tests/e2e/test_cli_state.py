"""Shared state on the command line: ``state init``, ``verify --state``, ``revoke``,
``revocations list`` and ``--max-uses``. Replay and use counts must persist across separate
``verify`` processes that share one state file; every revocation kind must kill exactly what it
names; without ``--state`` a token that must be counted is denied; only a file made by
``state init`` is ever opened, and no other file is written.

The tree (built once per module): the orchestrator's root token; the researcher's, delegated
from it; the writer's, delegated from the researcher's; a sibling delegated from the root to a
second writer; and a second root token for the same task, minted separately.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    Scope,
    TaskRecord,
    UnverifiedToken,
    decode,
    delegate,
    mint,
)
from tests.e2e.helpers import (
    Billing,
    Runner,
    decide,
    describe,
    in_process,
    only_line,
    run,
    sign,
    usage_error,
    where,
    write_request,
    write_test_keys,
)


@pytest.fixture
def call(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return in_process(capsys, monkeypatch)


@dataclass(frozen=True)
class Tree:
    dir: Path
    public: dict[str, str]
    tokens: dict[str, str]
    keys: dict[str, str]
    """Which key file signs for each token."""
    request: str


MINT = ("mint", "--keyring", "keyring.json", "--task-id", "task-42", "--approved-by", "alice",
        "--statement", "Read account 42", "--audience", "crm", "--tool", "crm.read",
        "--action", "read", "--resource", "crm://accounts/42/**")  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """Built with the library, in this process: the CLI's mint and delegate are covered in
    test_cli.py, and interpreter start-ups are what makes this suite slow."""
    d = tmp_path_factory.mktemp("state")
    public = write_test_keys(d, {"o": 21, "r": 22, "w": 23, "w2": 24})
    keyring = Keyring.load(d / "keyring.json")
    key = {name: AgentKey.load(d / f"{name}.key") for name in public}

    def new_root() -> UnverifiedToken:
        task = TaskRecord(
            task_id="task-42",
            approved_by="alice",
            approved_at=int(time.time()),
            statement="Read account 42",
        )
        scope = Scope(audiences=["crm"], tools=["crm.read"], expires_in=3600)
        return mint(keyring, task, Agent("orchestrator", key["o"].public_key), scope)

    def hand(token: UnverifiedToken, by: str, to: str, agent_id: str) -> UnverifiedToken:
        return delegate(token, key[by], Agent(agent_id, key[to].public_key))

    root = new_root()
    researcher = hand(root, "o", "r", "researcher")
    writer = hand(researcher, "r", "w", "writer")
    sibling = hand(root, "o", "w2", "writer-2")
    other_root = new_root()
    tokens = {
        "root": root.encode(), "researcher": researcher.encode(), "writer": writer.encode(),
        "sibling": sibling.encode(), "other_root": other_root.encode(),
    }  # fmt: skip
    keys = {"root": "o.key", "researcher": "r.key", "writer": "w.key", "sibling": "w2.key",
            "other_root": "o.key"}  # fmt: skip
    request = write_request(
        d / "read.json", tool="crm.read", action="read", resource="crm://accounts/42/notes",
        intent=None, args={},
    )  # fmt: skip
    return Tree(d, public, tokens, keys, request)


def verify(
    tree: Tree, runner: Runner, name: str, state: str | None, proof: str | None = None
) -> tuple[int, dict[str, Any]]:
    token = tree.tokens[name]
    proof = proof or sign(token, tree.dir / tree.keys[name], tree.request)
    extra = () if state is None else ("--state", state)
    result = runner(
        "verify", token, "--keyring", "keyring.json", "--request", tree.request,
        "--proof", proof, "--json", *extra,
        cwd=tree.dir,
    )  # fmt: skip
    assert result.stderr == "", result.stderr
    doc = json.loads(result.stdout)
    assert result.returncode == (0 if doc["allowed"] else 1)
    return result.returncode, doc


def outcomes(tree: Tree, runner: Runner, state: str) -> dict[str, str | None]:
    return {name: verify(tree, runner, name, state)[1]["code"] for name in tree.tokens}


def test_state_init_makes_an_owner_only_file_and_never_replaces_it(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    path = tmp_path / "s.db"
    line = only_line(call("state", "init", str(path), cwd=tree.dir))
    assert line.startswith(f"{path}: empty state file")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    usage_error(call("state", "init", str(path), cwd=tree.dir))


def test_replay_is_caught_across_verify_processes_with_state(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    state = str(tmp_path / "replay.db")
    only_line(call("state", "init", state, cwd=tree.dir))
    proof = sign(tree.tokens["writer"], tree.dir / "w.key", tree.request)
    assert verify(tree, run, "writer", state, proof)[0] == 0
    code, doc = verify(tree, run, "writer", state, proof)
    assert (code, doc["code"]) == (1, Code.REPLAY)


def test_without_state_verify_is_stateless(tree: Tree, call: Runner) -> None:
    proof = sign(tree.tokens["writer"], tree.dir / "w.key", tree.request)
    assert verify(tree, call, "writer", None, proof)[0] == 0
    assert verify(tree, call, "writer", None, proof)[0] == 0  # as the help says
    help_text = " ".join(call("verify", "--help", cwd=tree.dir).stdout.split())
    assert "Without --state the check is stateless" in help_text
    assert "a replayed proof is not detected" in help_text


@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_without_state_a_single_use_token_is_denied_with_a_hint(
    tree: Tree, call: Runner, json_output: bool
) -> None:
    """Fails on the old code, where `--max-uses 1` allowed one call per run, every run."""
    once = only_line(call("attenuate", tree.tokens["writer"], "--max-uses", "1", cwd=tree.dir))
    for _ in range(2):
        proof = sign(once, tree.dir / "w.key", tree.request)
        result = call(
            "verify", once, "--keyring", "keyring.json", "--request", tree.request,
            "--proof", proof, *(["--json"] if json_output else []), cwd=tree.dir,
        )  # fmt: skip
        assert result.returncode == 1
        if json_output:
            doc = json.loads(result.stdout)
            assert (doc["allowed"], doc["code"]) == (False, Code.STATE_REQUIRED)
            assert "shared state" in doc["reasons"][0]["detail"]
        else:
            assert result.stdout.startswith("DENY (state_required)")
        assert "--state FILE" in result.stderr
        assert "state init" in result.stderr


def test_without_state_at_a_time_the_hint_says_at_cannot_spend(tree: Tree, call: Runner) -> None:
    once = only_line(call("attenuate", tree.tokens["writer"], "--max-uses", "1", cwd=tree.dir))
    result = call(
        "verify", once, "--keyring", "keyring.json", "--request", tree.request,
        "--proof", sign(once, tree.dir / "w.key", tree.request), "--at",
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), cwd=tree.dir,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--at cannot spend state" in result.stderr


def test_max_uses_is_counted_across_verify_processes(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    state = str(tmp_path / "uses.db")
    only_line(call("state", "init", state, cwd=tree.dir))
    twice = only_line(call("attenuate", tree.tokens["writer"], "--max-uses", "2", cwd=tree.dir))
    counted = Tree(tree.dir, tree.public, {"t": twice}, {"t": "w.key"}, tree.request)
    codes = [verify(counted, run, "t", state)[1]["code"] for _ in range(3)]
    assert codes == [None, None, Code.USES_EXHAUSTED]


def test_max_uses_flags_on_mint_attenuate_and_delegate(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    once = only_line(call(*MINT, "--holder", tree.public["o"], "--max-uses", "1", cwd=tree.dir))
    handed = only_line(call(
        "delegate", tree.tokens["root"], "--key", "o.key", "--to", tree.public["w"],
        "--agent-id", "writer", "--max-uses", "3", cwd=tree.dir,
    ))  # fmt: skip
    for token, uses in ((once, [1]), (handed, [3])):
        doc = json.loads(call("inspect", token, "--json", cwd=tree.dir).stdout)
        assert [c["value"] for c in doc["caveats"] if c["type"] == "max_uses"] == uses
    assert "max_uses" in call("inspect", once, cwd=tree.dir).stdout
    usage_error(call("attenuate", once, "--max-uses", "2", cwd=tree.dir))  # cannot widen
    state = str(tmp_path / "once.db")
    only_line(call("state", "init", state, cwd=tree.dir))
    single = Tree(tree.dir, tree.public, {"t": once}, {"t": "o.key"}, tree.request)
    assert [verify(single, call, "t", state)[1]["code"] for _ in range(2)] == [
        None,
        Code.USES_EXHAUSTED,
    ]


REVOKED = Code.REVOKED
# Each revocation, and the outcome for root, researcher, writer, sibling, other_root.
REVOCATIONS: list[tuple[str, list[str], list[str | None]]] = [
    ("token", ["--token", "{researcher}"], [None, REVOKED, REVOKED, None, None]),
    ("token of the root", ["--token", "{root}"], [REVOKED, REVOKED, REVOKED, REVOKED, None]),
    ("hop", ["--hop", "{researcher_hop}"], [None, REVOKED, REVOKED, None, None]),
    ("hop, upper case", ["--hop", "{researcher_hop_upper}"], [None, REVOKED, REVOKED, None, None]),
    ("task", ["--task", "task-42"], [REVOKED] * 5),
    ("another task", ["--task", "task-43"], [None] * 5),
    ("agent", ["--agent", "{r}"], [None, REVOKED, REVOKED, None, None]),
    ("root agent", ["--agent", "{o}"], [REVOKED] * 5),
    ("key id", ["--key-id", "test-k1"], [REVOKED] * 5),
    ("another key id", ["--key-id", "test-k2"], [None] * 5),
]  # fmt: skip


def _values(tree: Tree) -> dict[str, str]:
    hop = decode(tree.tokens["researcher"]).agents()[1].hop_id or ""
    return {
        **tree.tokens, **tree.public, "researcher_hop": hop, "researcher_hop_upper": hop.upper(),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"), [r[1:] for r in REVOCATIONS], ids=[r[0] for r in REVOCATIONS]
)
def test_each_revocation_kills_exactly_what_it_names(
    tree: Tree, tmp_path: Path, call: Runner, args: list[str], expected: list[str | None]
) -> None:
    state = str(tmp_path / "revoked.db")
    assert call("state", "init", state, cwd=tree.dir).returncode == 0  # revoke never creates it
    filled = [a.format(**_values(tree)) for a in args]
    line = only_line(call("revoke", "--state", state, *filled, cwd=tree.dir))
    assert line.startswith("revoked ")
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert list(outcomes(tree, call, state).values()) == expected
    # Revoking again is harmless.
    assert only_line(call("revoke", "--state", state, *filled, cwd=tree.dir)) == line


def test_revoke_through_the_console_script_and_stdin(tree: Tree, tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    assert run("state", "init", state, cwd=tree.dir).returncode == 0
    line = only_line(run(
        "revoke", "--state", state, "--token", "-", cwd=tree.dir,
        stdin=tree.tokens["writer"] + "\n",
    ))  # fmt: skip
    token_id = decode(tree.tokens["writer"]).token_id
    assert line.startswith(f"revoked token {token_id}: this token (task task-42, held by writer)")
    code, doc = verify(tree, run, "writer", state)
    assert (code, doc["code"]) == (1, Code.REVOKED)
    assert token_id in doc["reasons"][0]["detail"]


def test_revocation_lines_say_what_was_revoked(tree: Tree, tmp_path: Path, call: Runner) -> None:
    state = str(tmp_path / "s.db")
    assert call("state", "init", state, cwd=tree.dir).returncode == 0
    values = _values(tree)
    for args, prefix in (
        (["--hop", values["researcher_hop"]], f"revoked token {values['researcher_hop']}: "),
        (["--task", "task-42"], "revoked task task-42: every token for that task"),
        (["--agent", tree.public["r"]], f"revoked agent {tree.public['r']}: "),
        (["--key-id", "test-k1"], "revoked key test-k1: every token minted under that root key"),
    ):
        assert only_line(call("revoke", "--state", state, *args, cwd=tree.dir)).startswith(prefix)


BAD_STATE = [
    ("hop id too short", ["--hop", "ab" * 15]),
    ("hop id not hex", ["--hop", "z" * 32]),
    ("agent key not base64url", ["--agent", "not a key"]),
    ("agent key too short", ["--agent", "AAAA"]),
    ("empty task id", ["--task", ""]),
    ("task id with a tab", ["--task", "a\tb"]),
    ("bad key id", ["--key-id", "no spaces"]),
    ("garbage token", ["--token", "!!"]),
]  # fmt: skip


@pytest.mark.parametrize("args", [c[1] for c in BAD_STATE], ids=[c[0] for c in BAD_STATE])
def test_bad_revocations_exit_2_and_write_nothing(
    tree: Tree, tmp_path: Path, call: Runner, args: list[str]
) -> None:
    state = tmp_path / "s.db"
    usage_error(call("revoke", "--state", str(state), *args, cwd=tree.dir))
    assert not state.exists()


@pytest.mark.parametrize(
    "args",
    [["--task", "t", "--key-id", "k"], [], ["--hop"]],
    ids=["two kinds", "no kind", "missing value"],
)
def test_revoke_needs_exactly_one_kind(tree: Tree, call: Runner, args: list[str]) -> None:
    result = call("revoke", "--state", "s.db", *args, cwd=tree.dir)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: delegation")
    assert "Traceback" not in result.stderr


def test_verify_refuses_a_missing_or_unusable_state_file(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    proof = sign(tree.tokens["writer"], tree.dir / "w.key", tree.request)
    base = ("verify", tree.tokens["writer"], "--keyring", "keyring.json",
            "--request", tree.request, "--proof", proof)  # fmt: skip
    missing = tmp_path / "typo.db"
    assert "state init" in usage_error(call(*base, "--state", str(missing), cwd=tree.dir))
    assert not missing.exists()  # a typo never becomes an empty state that forgets revocations
    keyring = (tree.dir / "keyring.json").read_bytes()
    usage_error(call(*base, "--state", "keyring.json", cwd=tree.dir))
    assert (tree.dir / "keyring.json").read_bytes() == keyring
    usage_error(call(*base, "--state", str(tmp_path), cwd=tree.dir))
    usage_error(call("revoke", "--state", str(tmp_path), "--task", "t", cwd=tree.dir))


def _other_programs_database(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
        db.execute("INSERT INTO songs VALUES ('la')")
    db.close()
    return path.read_bytes()


def test_state_commands_refuse_any_file_not_made_by_state_init(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    """Fails on the old code, which wrote its tables into any SQLite file it was given."""
    proof = sign(tree.tokens["writer"], tree.dir / "w.key", tree.request)
    base = ("verify", tree.tokens["writer"], "--keyring", "keyring.json",
            "--request", tree.request, "--proof", proof)  # fmt: skip
    empty, foreign = tmp_path / "empty.db", tmp_path / "songs.db"
    empty.touch()
    before = _other_programs_database(foreign)
    for path, why in ((empty, "empty file"), (foreign, "not a delegation state file")):
        for args in (
            (*base, "--state", str(path)),
            ("revoke", "--state", str(path), "--task", "t"),
            ("revocations", "list", "--state", str(path)),
        ):
            line = usage_error(call(*args, cwd=tree.dir))
            assert why in line, line
            assert "state init" in line, line
    assert empty.read_bytes() == b""
    assert foreign.read_bytes() == before
    assert not Path(f"{foreign}-wal").exists()
    usage_error(call("state", "init", str(foreign), cwd=tree.dir))
    assert foreign.read_bytes() == before


def test_revocations_list_shows_what_the_state_file_revokes(
    tree: Tree, tmp_path: Path, call: Runner
) -> None:
    state = str(tmp_path / "s.db")
    only_line(call("state", "init", state, cwd=tree.dir))
    assert only_line(call("revocations", "list", "--state", state, cwd=tree.dir)) == (
        f"{state}: nothing is revoked"
    )
    empty = json.loads(call("revocations", "list", "--state", state, "--json", cwd=tree.dir).stdout)
    assert empty == {"revocations": []}
    hop = _values(tree)["researcher_hop"]
    for args in (["--task", "task-42"], ["--hop", hop.upper()], ["--key-id", "test-k1"]):
        only_line(call("revoke", "--state", state, *args, cwd=tree.dir))
    text = call("revocations", "list", "--state", state, cwd=tree.dir).stdout.splitlines()
    assert len(text) == 3
    assert {tuple(line.split()[1:]) for line in text} == {
        ("task", "task-42"),
        ("token", hop),
        ("key", "test-k1"),
    }
    doc = json.loads(call("revocations", "list", "--state", state, "--json", cwd=tree.dir).stdout)
    assert {(r["kind"], r["value"]) for r in doc["revocations"]} == {
        ("task", "task-42"),
        ("token", hop),
        ("key", "test-k1"),
    }
    assert all(isinstance(r["revoked_at"], int) for r in doc["revocations"])
    usage_error(call("revocations", "list", "--state", str(tmp_path / "typo.db"), cwd=tree.dir))


# --- the billing story (tests/e2e/conftest.py) ----------------------------------------------------


def test_revoking_the_analysts_hop_kills_its_branch_only(
    billing: Billing, call: Runner, tmp_path: Path
) -> None:
    b = billing
    state = str(tmp_path / "state.db")
    call("state", "init", state, cwd=b.dir)
    hop = describe(b, b.summarizer)["agents"][1]
    assert hop["agent_id"] == "analyst"
    revoked = run("revoke", "--state", state, "--hop", hop["hop_id"], cwd=b.dir)
    assert revoked.returncode == 0, revoked.stderr
    assert hop["hop_id"] in revoked.stdout
    for token, key in ((b.analyst, "analyst"), (b.summarizer, "summarizer")):
        code, doc = decide(b, call, token, key, b.read, "--state", state)
        assert where(doc) == [("revoked", None)], key
    code, doc = decide(b, call, b.sibling, "analyst-b", b.read, "--state", state)
    assert code == 0, doc["reasons"]
    assert [link["agent_id"] for link in doc["agents"]] == ["orchestrator", "analyst-b"]


# Guards against: `revoke --state FILE` creating a missing FILE, so that a mistyped path records
# the revocation where no verifier looks, prints "revoked ...", and exits 0: the revocation
# silently never takes effect. `verify --state` refuses a missing file for exactly this reason
# ("so a mistyped path cannot silently forget every revocation"), and `state init` exists to
# create one. Expected: exit 2, pointing at `state init`, and no file made.
def test_revoke_refuses_a_missing_state_file(billing: Billing, call: Runner) -> None:
    typo = billing.dir / "stat.db"
    result = call("revoke", "--state", str(typo), "--task", "T-1001", cwd=billing.dir)
    assert "state init" in usage_error(result)
    assert not typo.exists()
