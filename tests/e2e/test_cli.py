"""The ``delegation`` command end to end: real processes, real files, one story.

The story (built once per module in a temporary directory): three agents make keys, an issuer
makes a keyring and mints a root token for the orchestrator, the orchestrator attenuates it and
delegates to a researcher, who delegates to a writer. Keys are generated fresh by the CLI
itself (these tests exercise ``keygen``); nothing here is a real secret.

The story and every command's main path run as real processes (``python -m delegation.cli``,
plus the installed ``delegation`` script). The long tables of denials and bad usage call
``main()`` in this process instead (``call``): the same code without an interpreter start-up
per case, which keeps the suite fast; an exception escaping ``main`` fails the test just as a
traceback would. Proofs for the tables are signed with the library directly.

The last tests use the billing story of ``tests/e2e/conftest.py``, a new user's walk through
the README.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    decode,
    encode_public_key,
    mint,
    prove,
)
from delegation.cli import main
from delegation.cli.main import build_parser
from delegation.testing.fixtures import agent_key
from tests.e2e.helpers import (
    BILLING_URL,
    Billing,
    Result,
    Runner,
    decide,
    in_process,
    only_line,
    usage_error,
    where,
    write_request,
    write_test_approver,
)

CLI = (sys.executable, "-m", "delegation.cli")
HEX32 = re.compile(r"[0-9a-f]{32}")
DECISION_KEYS = {
    "allowed", "code", "reasons", "task", "agents", "token_id", "root_id", "key_id", "expires",
    "at", "budgets", "reservation", "policy",
}  # fmt: skip
REASON_KEYS = {"code", "hop", "caveat", "detail"}
TASK_KEYS = {"task_id", "approved_by", "approved_at", "statement", "digest"}
STATEMENT = "Summarise account 42's notes and file the summary"


def run(*args: str, cwd: Path, stdin: str | None = None) -> Result:
    """Through ``python -m delegation.cli`` (the helpers' ``run`` takes the console script)."""
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


@pytest.fixture
def call(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Like ``run``, but through ``main()`` in this process."""
    return in_process(capsys, monkeypatch)


def ok(*args: str, cwd: Path, stdin: str | None = None) -> str:
    """Run a command that must succeed; return its single output line."""
    result = run(*args, cwd=cwd, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


@dataclass(frozen=True)
class Story:
    dir: Path
    public: dict[str, str]
    root: str
    narrowed: str
    researcher_token: str
    writer_token: str
    request: str
    proof: str


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    d = tmp_path_factory.mktemp("cli")
    public = {name: ok("keygen", "--out", f"{name}.key", cwd=d) for name in ("o", "r", "w")}
    ok("keyring", "init", "keyring.json", cwd=d)
    root = ok(
        "mint", "--keyring", "keyring.json", "--task-id", "task-42",
        "--approved-by", "alice@example.com", "--statement", STATEMENT,
        "--holder", public["o"], "--audience", "crm",
        "--tool", "crm.read", "--tool", "crm.update", "--action", "read", "--action", "write",
        "--resource", "crm://accounts/42/**", "--intent", "summarise", "--intent", "update-notes",
        "--max-depth", "2", "--delegatee", "researcher", "--delegatee", "writer",
        cwd=d,
    )  # fmt: skip
    narrowed = ok("attenuate", root, "--arg-max", "length=2000", cwd=d)
    researcher_token = ok(
        "delegate", narrowed, "--key", "o.key", "--to", public["r"], "--agent-id", "researcher",
        "--resource", "crm://accounts/42/notes/**", "--expires-in", "600",
        cwd=d,
    )  # fmt: skip
    writer_token = ok(
        "delegate", researcher_token, "--key", "r.key", "--to", public["w"],
        "--agent-id", "writer", "--tool", "crm.update", "--action", "write",
        "--arg-max", "length=1000",
        cwd=d,
    )  # fmt: skip
    request = write_request(d / "request.json")
    proof = ok("prove", writer_token, "--key", "w.key", "--request", request, cwd=d)
    return Story(d, public, root, narrowed, researcher_token, writer_token, request, proof)


def sign(story: Story, token: str, key: str, request: str) -> str:
    """A proof made with the library, for the tables (the CLI's prove is tested on the story)."""
    doc = json.loads(Path(request).read_text(encoding="utf-8"))
    return prove(token, AgentKey.load(story.dir / key), Request.from_json(doc))


def verify_json(
    story: Story, *args: str, token: str | None = None, runner: Runner = run
) -> tuple[int, dict[str, Any]]:
    result = runner(
        "verify", token or story.writer_token, "--keyring", "keyring.json", "--json", *args,
        cwd=story.dir,
    )  # fmt: skip
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == DECISION_KEYS
    return result.returncode, doc


def test_keygen_writes_owner_only_key_files(story: Story) -> None:
    for name in ("o", "r", "w", "keyring"):
        path = story.dir / (f"{name}.key" if name != "keyring" else "keyring.json")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for name, public in story.public.items():
        doc = json.loads((story.dir / f"{name}.key").read_text(encoding="utf-8"))
        assert doc["public_key"] == public
    assert len(set(story.public.values())) == 3


def test_keygen_and_keyring_init_refuse_to_overwrite(story: Story) -> None:
    before = (story.dir / "o.key").read_bytes()
    for args in (("keygen", "--out", "o.key"), ("keyring", "init", "keyring.json")):
        result = run(*args, cwd=story.dir)
        assert result.returncode == 2
        assert "--force" in result.stderr
    assert (story.dir / "o.key").read_bytes() == before


def test_verify_allows_with_the_decision_shape(story: Story) -> None:
    code, doc = verify_json(story, "--request", story.request, "--proof", story.proof)
    assert code == 0
    assert doc["allowed"] is True
    assert doc["code"] is None
    assert doc["reasons"] == []
    task = doc["task"]
    assert set(task) == TASK_KEYS
    assert task["task_id"] == "task-42"
    assert task["approved_by"] == "alice@example.com"
    assert task["statement"] == STATEMENT
    assert type(task["approved_at"]) is int
    assert re.fullmatch(r"[0-9a-f]{64}", task["digest"])
    assert [link["agent_id"] for link in doc["agents"]] == ["orchestrator", "researcher", "writer"]
    assert [link["public_key"] for link in doc["agents"]] == [
        story.public["o"],
        story.public["r"],
        story.public["w"],
    ]
    assert doc["agents"][0]["hop_id"] is None
    hop_ids = [link["hop_id"] for link in doc["agents"][1:]]
    assert all(HEX32.fullmatch(h) for h in hop_ids)
    assert len(set(hop_ids)) == 2
    assert HEX32.fullmatch(doc["token_id"])


def test_verify_prints_a_readable_allow(story: Story) -> None:
    result = run(
        "verify", story.writer_token, "--keyring", "keyring.json", "--request", story.request,
        "--proof", story.proof,
        cwd=story.dir,
    )  # fmt: skip
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "ALLOW"
    assert "orchestrator -> researcher -> writer" in result.stdout
    assert "task-42, approved by alice@example.com" in result.stdout


def tampered(token: str) -> str:
    i = len(token) - 10  # inside the signature: framing still parses
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]


# (what, request overrides, first reason code)
DENIALS = [
    ("wrong tool", {"tool": "crm.read", "action": "read"}, Code.TOOL_NOT_ALLOWED),
    ("dot-dot", {"resource": "crm://accounts/42/notes/../../43/notes"}, Code.RESOURCE_NOT_ALLOWED),
    ("other account", {"resource": "crm://accounts/420/notes/x"}, Code.RESOURCE_NOT_ALLOWED),
    ("over the hop's limit", {"args": {"length": 1500}}, Code.ARGS_NOT_ALLOWED),
    ("text for a number", {"args": {"length": "640"}}, Code.ARGS_NOT_ALLOWED),
    ("argument missing", {"args": {}}, Code.ARGS_NOT_ALLOWED),
    ("wrong audience", {"audience": "billing"}, Code.WRONG_AUDIENCE),
    ("wrong intent", {"intent": "delete-everything"}, Code.INTENT_NOT_ALLOWED),
]


@pytest.mark.parametrize(
    ("overrides", "expected"), [d[1:] for d in DENIALS], ids=[d[0] for d in DENIALS]
)
def test_verify_denies_out_of_scope_calls(
    story: Story, tmp_path: Path, call: Runner, overrides: dict[str, Any], expected: Code
) -> None:
    request = write_request(tmp_path / "request.json", **overrides)
    proof = sign(story, story.writer_token, "w.key", request)
    code, doc = verify_json(story, "--request", request, "--proof", proof, runner=call)
    assert code == 1
    assert doc["allowed"] is False
    assert doc["code"] == expected
    for reason in doc["reasons"]:
        assert set(reason) == REASON_KEYS
        assert type(reason["hop"]) is int
        assert type(reason["caveat"]) is int
        assert reason["detail"]
    # A genuine token's denial still names the task and the agents.
    assert doc["task"]["task_id"] == "task-42"
    assert len(doc["agents"]) == 3


def test_over_limit_argument_names_the_hop_that_set_the_limit(
    story: Story, tmp_path: Path, call: Runner
) -> None:
    request = write_request(tmp_path / "r.json", args={"length": 1500})
    proof = sign(story, story.writer_token, "w.key", request)
    _, doc = verify_json(story, "--request", request, "--proof", proof, runner=call)
    assert [(r["code"], r["hop"]) for r in doc["reasons"]] == [(Code.ARGS_NOT_ALLOWED, 2)]


def test_only_arg_closes_the_argument_list(story: Story, tmp_path: Path, call: Runner) -> None:
    closed = only_line(call("attenuate", story.writer_token, "--only-arg", "length", cwd=story.dir))
    listed = write_request(tmp_path / "listed.json")
    code, doc = verify_json(
        story, "--request", listed, "--proof", sign(story, closed, "w.key", listed), token=closed,
        runner=call,
    )  # fmt: skip
    assert (code, doc["code"]) == (0, None)
    smuggled = write_request(tmp_path / "smuggled.json", args={"length": 640, "path": "/etc"})
    code, doc = verify_json(
        story, "--request", smuggled, "--proof", sign(story, closed, "w.key", smuggled),
        token=closed, runner=call,
    )  # fmt: skip
    assert (code, doc["code"]) == (1, Code.ARGS_NOT_ALLOWED)
    # the same call under the token without --only-arg passes: the flag is what denies it
    code, _ = verify_json(
        story, "--request", smuggled, "--proof", sign(story, story.writer_token, "w.key", smuggled),
        runner=call,
    )  # fmt: skip
    assert code == 0


def test_verify_denies_without_a_valid_proof(story: Story, tmp_path: Path, call: Runner) -> None:
    _, doc = verify_json(story, "--request", story.request, runner=call)
    assert doc["code"] == Code.POP_REQUIRED
    other = write_request(tmp_path / "other.json", resource="crm://accounts/42/notes/other")
    code, doc = verify_json(story, "--request", other, "--proof", story.proof, runner=call)
    assert (code, doc["code"]) == (1, Code.POP_INVALID)
    # The researcher's key signs a proof for the writer's token: prove refuses to...
    result = run(
        "prove", story.writer_token, "--key", "r.key", "--request", story.request, cwd=story.dir
    )
    assert result.returncode == 2
    assert "holder" in result.stderr
    # ...and the writer's proof does not carry over to the researcher's broader token.
    args = ("--request", story.request, "--proof", story.proof)
    code, doc = verify_json(story, *args, token=story.researcher_token, runner=call)
    assert (code, doc["code"]) == (1, Code.POP_INVALID)


def test_verify_denies_tampered_and_garbage_tokens(story: Story, call: Runner) -> None:
    args = ("--request", story.request, "--proof", story.proof)
    code, doc = verify_json(story, *args, token=tampered(story.writer_token))
    assert (code, doc["code"]) == (1, Code.BAD_SIGNATURE)
    assert doc["task"] is None
    assert doc["agents"] == []
    assert doc["reasons"] == [
        {
            "code": "bad_signature",
            "hop": None,
            "caveat": None,
            "detail": doc["reasons"][0]["detail"],
        }
    ]
    code, doc = verify_json(story, *args, token="not-a-token", runner=call)
    assert (code, doc["code"]) == (1, Code.MALFORMED)


def test_verify_at_a_later_time_for_offline_analysis(story: Story) -> None:
    code, doc = verify_json(
        story, "--request", story.request, "--proof", story.proof, "--at", "2100-01-01T00:00:00Z"
    )
    assert code == 1
    codes = [r["code"] for r in doc["reasons"]]
    assert codes[0] == Code.EXPIRED
    assert Code.POP_INVALID in codes


def test_verify_prints_readable_reasons(story: Story, tmp_path: Path) -> None:
    request = write_request(tmp_path / "r.json", tool="crm.delete")
    proof = sign(story, story.writer_token, "w.key", request)
    result = run(
        "verify", story.writer_token, "--keyring", "keyring.json", "--request", request,
        "--proof", proof,
        cwd=story.dir,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "DENY (tool_not_allowed)"
    reason_lines = [line for line in result.stdout.splitlines() if line.startswith("reason")]
    assert len(reason_lines) == 2  # the root's tool list and the writer hop's
    assert re.match(
        r"reason +tool_not_allowed \(hop 0, caveat \d+\): .*crm\.delete", reason_lines[0]
    )
    assert re.match(r"reason +tool_not_allowed \(hop 2, caveat \d+\): ", reason_lines[1])


def test_arg_values_are_typed(story: Story, tmp_path: Path, call: Runner) -> None:
    token = ok(
        "attenuate", story.writer_token, "--arg-eq", "count=3", "--arg-eq", "draft=false",
        "--arg-eq", 'label="42"', "--arg-in", "lang=en,fr",
        cwd=story.dir,
    )  # fmt: skip
    good = {"length": 10, "count": 3, "draft": False, "label": "42", "lang": "fr"}
    for args, expected in (
        (good, None),
        ({**good, "count": "3"}, Code.ARGS_NOT_ALLOWED),
        ({**good, "draft": 0}, Code.ARGS_NOT_ALLOWED),
        ({**good, "label": 42}, Code.ARGS_NOT_ALLOWED),
        ({**good, "lang": "de"}, Code.ARGS_NOT_ALLOWED),
    ):
        request = write_request(tmp_path / "r.json", args=args)
        proof = sign(story, token, "w.key", request)
        args_ = ("--request", request, "--proof", proof)
        code, doc = verify_json(story, *args_, token=token, runner=call)
        assert doc["code"] == expected, args
        assert code == (0 if expected is None else 1)


def test_token_from_standard_input(story: Story, call: Runner) -> None:
    result = run(
        "verify", "-", "--keyring", "keyring.json", "--request", story.request,
        "--proof", story.proof, "--json",
        cwd=story.dir, stdin=story.writer_token + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["allowed"] is True
    narrowed = ok("attenuate", "-", "--intent", "summarise", cwd=story.dir, stdin=story.root)
    result = call("inspect", "-", "--json", cwd=story.dir, stdin=narrowed + "\n")
    described = json.loads(result.stdout)
    assert described["caveats"][-1]["type"] == "intent"


def test_inspect_json_describes_without_secrets(story: Story, call: Runner) -> None:
    doc = json.loads(run("inspect", story.writer_token, "--json", cwd=story.dir).stdout)
    assert set(doc) == {
        "token_id", "root_id", "key_id", "location", "task", "agents", "caveats", "verified",
        "effective",
    }  # fmt: skip
    assert doc["verified"] is False
    assert HEX32.fullmatch(doc["token_id"])
    assert HEX32.fullmatch(doc["root_id"])
    keyring = json.loads((story.dir / "keyring.json").read_text(encoding="utf-8"))
    assert doc["key_id"] == keyring["current"]
    assert [link["agent_id"] for link in doc["agents"]] == ["orchestrator", "researcher", "writer"]
    hops = [c for c in doc["caveats"] if c["type"] == "hop"]
    assert [(h["hop"], h["value"]["agent_id"]) for h in hops] == [(1, "researcher"), (2, "writer")]
    assert [c["index"] for c in doc["caveats"]] == list(range(len(doc["caveats"])))
    text = json.dumps(doc)
    for key in keyring["keys"]:
        assert key["secret"] not in text
    for name in ("o", "r", "w"):
        private = json.loads((story.dir / f"{name}.key").read_text(encoding="utf-8"))
        assert private["private_key"] not in text
    args = ("--request", story.request, "--proof", story.proof)
    _, decision = verify_json(story, *args, runner=call)
    assert doc["token_id"] == decision["token_id"]
    assert doc["agents"] == decision["agents"]


def test_inspect_prints_a_readable_chain(story: Story) -> None:
    result = run("inspect", story.writer_token, cwd=story.dir)
    assert result.returncode == 0
    assert result.stdout.startswith("UNVERIFIED")
    assert STATEMENT in result.stdout
    assert re.search(r"hop 2 +hop +agent_id writer", result.stdout)
    assert re.search(r"root +resource +crm://accounts/42/\*\*", result.stdout)


def test_keyring_rotate_keeps_old_tokens_verifying(
    story: Story, tmp_path: Path, call: Runner
) -> None:
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes((story.dir / "keyring.json").read_bytes())
    os.chmod(keyring, 0o600)
    old_id = json.loads(keyring.read_text(encoding="utf-8"))["current"]
    new_id = ok("keyring", "rotate", str(keyring), cwd=story.dir)
    assert new_id != old_id
    assert stat.S_IMODE(os.stat(keyring).st_mode) == 0o600
    doc = json.loads(keyring.read_text(encoding="utf-8"))
    assert doc["current"] == new_id
    assert [k["key_id"] for k in doc["keys"]] == [old_id, new_id]
    result = run(
        "verify", story.writer_token, "--keyring", str(keyring), "--request", story.request,
        "--proof", story.proof,
        cwd=story.dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    fresh = ok(
        "mint", "--keyring", str(keyring), "--task-id", "t2", "--approved-by", "bob",
        "--statement", "x", "--holder", story.public["o"], "--holder-id", "orch-2",
        "--audience", "crm",
        cwd=story.dir,
    )  # fmt: skip
    described = json.loads(call("inspect", fresh, "--json", cwd=story.dir).stdout)
    assert described["key_id"] == new_id
    assert described["agents"][0]["agent_id"] == "orch-2"
    # The story's keyring, never rotated, does not know the new key.
    request = write_request(tmp_path / "r.json")
    proof = sign(story, fresh, "o.key", request)
    args = ("--request", request, "--proof", proof)
    code, decision = verify_json(story, *args, token=fresh, runner=call)
    assert (code, decision["code"]) == (1, Code.UNKNOWN_KEY)


VERIFY = ["verify", "{token}", "--keyring", "keyring.json"]
BAD_USAGE = [
    ("missing request file", [*VERIFY, "--request", "nope.json"]),
    ("request not JSON", [*VERIFY, "--request", "o.key.pub"]),
    ("malformed request", [*VERIFY, "--request", "bad.json"]),
    ("missing keyring", ["verify", "{token}", "--keyring", "nope.json", "--request", "{request}"]),
    ("key file as keyring", ["verify", "{token}", "--keyring", "o.key", "--request", "{request}"]),
    ("missing key file", ["prove", "{token}", "--key", "nope.key", "--request", "{request}"]),
    ("binary key file", ["prove", "{token}", "--key", "binary.key", "--request", "{request}"]),
    ("garbage to prove", ["prove", "garbage", "--key", "w.key", "--request", "{request}"]),
    ("garbage to inspect", ["inspect", "!!"]),
    ("mint without audience", ["mint", "--keyring", "keyring.json", "--task-id", "t",
                               "--approved-by", "a", "--statement", "s", "--holder", "{pub}"]),
    ("bad public key", ["delegate", "{token}", "--key", "w.key", "--to", "short",
                        "--agent-id", "x"]),
    ("widening expiry", ["attenuate", "{token}", "--expires-in", "999999"]),
    ("widening tool", ["attenuate", "{token}", "--tool", "crm.delete"]),
    ("nothing to attenuate", ["attenuate", "{token}"]),
    ("arg-max not an integer", ["attenuate", "{token}", "--arg-max", "length=lots"]),
    ("arg-eq without =", ["attenuate", "{token}", "--arg-eq", "length"]),
    ("--at without a zone", ["verify", "{token}", "--keyring", "keyring.json",
                             "--request", "{request}", "--at", "2030-01-01T00:00:00"]),
    ("negative expires-in", ["mint", "--keyring", "keyring.json", "--task-id", "t", "--approved-by",
                             "a", "--statement", "s", "--holder", "{pub}", "--expires-in", "-5"]),
    ("negative max-depth", ["attenuate", "{token}", "--max-depth", "-1"]),
    ("max-uses of 0", ["attenuate", "{token}", "--max-uses", "0"]),
    ("an approver key as the holder's key", ["prove", "{token}", "--key", "approver.key",
                                             "--request", "{request}"]),
    ("rotate a missing keyring", ["keyring", "rotate", "nope.json"]),
    ("keygen into a missing directory", ["keygen", "--out", "no/such/dir/k.key"]),
]  # fmt: skip
ARGPARSE_USAGE = [
    ("no command", []),
    ("unknown command", ["frobnicate"]),
    ("unknown flag", ["inspect", "{token}", "--jsn"]),
    ("abbreviated flag", ["inspect", "{token}", "--js"]),
    ("missing value", ["attenuate", "{token}", "--tool"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_files(story: Story) -> Story:
    (story.dir / "o.key.pub").write_text(story.public["o"], encoding="utf-8")
    (story.dir / "bad.json").write_text('{"audience": "crm", "tool": 3}', encoding="utf-8")
    (story.dir / "binary.key").write_bytes(b"\xff\xfe\x00garbage")
    write_test_approver(story.dir / "approver.key", 97)
    return story


def _fill(args: list[str], story: Story) -> list[str]:
    values = {"token": story.writer_token, "request": story.request, "pub": story.public["o"]}
    return [a.format(**values) for a in args]


@pytest.mark.parametrize("args", [c[1] for c in BAD_USAGE], ids=[c[0] for c in BAD_USAGE])
def test_bad_usage_exits_2_with_one_line(bad_files: Story, call: Runner, args: list[str]) -> None:
    result = call(*_fill(args, bad_files), cwd=bad_files.dir)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("delegation: error: ")


@pytest.mark.parametrize("args", [c[1] for c in ARGPARSE_USAGE], ids=[c[0] for c in ARGPARSE_USAGE])
def test_bad_arguments_exit_2_with_usage(bad_files: Story, call: Runner, args: list[str]) -> None:
    result = call(*_fill(args, bad_files), cwd=bad_files.dir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: delegation")
    assert "error: " in result.stderr


def test_help_names_every_command_and_argument_typing(tmp_path: Path, call: Runner) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("keygen", "keyring", "mint", "attenuate", "delegate", "prove", "verify"):
        assert command in result.stdout
    assert "inspect" in result.stdout
    assert "demo" in result.stdout
    mint_help = " ".join(call("mint", "--help", cwd=tmp_path).stdout.split())
    assert "plain integer" in mint_help
    assert "true and false are booleans" in mint_help


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("delegation")
    assert script.exists(), "pip install -e . puts the console script next to python"
    result = subprocess.run(
        [str(script), "keyring", "init", "k.json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k.json").exists()


def test_demo_plays_the_whole_story(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "24 calls: 7 allowed, 17 denied, each as expected" in out
    assert "!!" not in out
    claimed_line = next(line for line in out.splitlines() if line.startswith("denial codes shown:"))
    claimed = claimed_line.split(":", 1)[1].replace(",", " ").split()
    assert set(claimed) >= {
        Code.TOOL_NOT_ALLOWED,
        Code.RESOURCE_NOT_ALLOWED,
        Code.ARGS_NOT_ALLOWED,
        Code.POP_REQUIRED,
        Code.POP_INVALID,
        Code.REPLAY,
        Code.BAD_SIGNATURE,
        Code.APPROVAL_REQUIRED,
        Code.WRONG_CHAIN,
        Code.USES_EXHAUSTED,
        Code.COST_TOO_HIGH,
        Code.BUDGET_EXCEEDED,
        Code.REVOKED,
    }
    assert "budget pages: 10 of 50 left" in out
    reason_codes = set(re.findall(r"^ +([a-z_]+) \((?:token|hop \d+)", out, re.M))
    for code in claimed:
        assert code in reason_codes, code
    assert "../43" in out
    assert "[DENY ] " in out
    assert "[ALLOW] " in out
    assert "| agents: orchestrator -> writer" in out  # the approver's review of the call
    assert "| asked by: writer (key " in out
    # The orchestrator is refused the writer's approval, which the writer then uses.
    lines = out.splitlines()
    refused = lines.index("   [DENY ] the orchestrator files the note with the writer's approval")
    assert lines[refused + 1].lstrip().startswith("wrong_chain (hop 0, caveat ")
    assert lines[refused + 2] == "   [ALLOW] writer files the approved note"
    assert not any(Path(tmp_path).iterdir()), "the demo works in its own temporary directory"


# --- a finished command for a new user ------------------------------------------------------


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"delegation {importlib.metadata.version('delegation')}\n"


def test_pubkey_prints_what_keygen_printed(bad_files: Story, call: Runner) -> None:
    d = bad_files.dir
    assert ok("pubkey", "o.key", cwd=d) == bad_files.public["o"]  # a real process
    for name in ("r", "w"):
        assert only_line(call("pubkey", f"{name}.key", cwd=d)) == bad_files.public[name]
    assert "keyring" in usage_error(call("pubkey", "keyring.json", cwd=d))
    assert "cannot read" in usage_error(call("pubkey", "nope.key", cwd=d))
    for not_a_key in ("request.json", "o.key.pub"):
        assert "not an agent key file" in usage_error(call("pubkey", not_a_key, cwd=d))
    assert "not UTF-8" in usage_error(call("pubkey", "binary.key", cwd=d))


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("delegation",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_command_flag_and_argument_has_help() -> None:
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [
                    " ".join((*path, name)) for name in action.choices if name not in helped
                ]
            elif not action.help:
                name = "/".join(action.option_strings) or str(action.metavar or action.dest)
                missing.append(" ".join((*path, name)))
    assert missing == []


def test_help_fits_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        body = text.split("\n\n", 1)[1]  # after the usage block, which argparse cannot wrap
        too_long = [line for line in body.splitlines() if len(line) > 80]
        assert too_long == [], " ".join(path)


def test_request_from_standard_input(story: Story, call: Runner) -> None:
    request = Path(story.request).read_text(encoding="utf-8")
    token = story.writer_token
    proof = ok("prove", token, "--key", "w.key", "--request", "-", cwd=story.dir, stdin=request)
    result = run(
        "verify", token, "--keyring", "keyring.json", "--request", "-", "--proof", proof, "--json",
        cwd=story.dir, stdin=request,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["allowed"] is True
    line = usage_error(run("prove", "-", "--key", "w.key", "--request", "-", cwd=story.dir,
                           stdin=request))  # fmt: skip
    assert line == (
        "delegation: error: only one input can come from standard input, but TOKEN and "
        "--request are -"
    )
    for args in (
        ("verify", token, "--keyring", "keyring.json", "--request", "-", "--proof", "-"),
        ("verify", "-", "--keyring", "keyring.json", "--request", "-"),
        ("verify", token, "--keyring", "keyring.json", "--request", "-", "--discharge", "-"),
    ):
        line = usage_error(call(*args, cwd=story.dir, stdin=request))
        assert "only one input can come from standard input" in line
    line = usage_error(call("prove", token, "--key", "w.key", "--request", "-", cwd=story.dir,
                            stdin='{"audience": '))  # fmt: skip
    assert line == "delegation: error: the request on standard input is not valid JSON"


JSON_USAGE = [
    ("missing request file", ["--keyring", "keyring.json", "--request", "nope.json"]),
    ("missing --request", ["--keyring", "keyring.json"]),
    ("unknown flag", ["--keyring", "keyring.json", "--request", "{request}", "--proff", "x"]),
    ("unreadable --at", ["--keyring", "keyring.json", "--request", "{request}", "--at", "soon"]),
    ("two stdin readers", ["--keyring", "keyring.json", "--request", "-", "--proof", "-"]),
    ("key file as keyring", ["--keyring", "o.key", "--request", "{request}"]),
    ("missing state file", ["--keyring", "keyring.json", "--request", "{request}",
                            "--state", "nope.db"]),
]  # fmt: skip


@pytest.mark.parametrize("args", [c[1] for c in JSON_USAGE], ids=[c[0] for c in JSON_USAGE])
def test_verify_json_reports_bad_usage_as_json(
    bad_files: Story, call: Runner, args: list[str]
) -> None:
    result = call(*_fill(["verify", "{token}", "--json", *args], bad_files), cwd=bad_files.dir)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc == {"code": "usage", "detail": doc["detail"]}
    assert result.stderr.splitlines() == [f"delegation: error: {doc['detail']}"]


def test_verify_json_usage_error_through_the_console_script(story: Story) -> None:
    result = run("verify", story.writer_token, "--json", "--keyring", "keyring.json", cwd=story.dir)
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "code": "usage",
        "detail": "the following arguments are required: --request",
    }


def _minted(story: Story, *, now: int, **scope: Any) -> str:
    """A root token minted as if at ``now`` (the CLI mints at the current time only)."""
    keyring = Keyring.load(story.dir / "keyring.json")
    holder = Agent("orchestrator", AgentKey.load(story.dir / "o.key").public_key)
    task = TaskRecord(
        task_id="task-old", approved_by="alice@example.com", approved_at=now, statement="s"
    )
    return mint(keyring, task, holder, Scope(audiences=["crm"], **scope), now=now).encode()


def test_inspect_shows_the_effective_scope(story: Story, call: Runner) -> None:
    text = run("inspect", story.writer_token, cwd=story.dir).stdout
    lines = text.splitlines()
    assert lines[1].startswith("token id")  # a current token has no validity warning
    scope = lines[lines.index(
        "effective scope (what all the caveats allow together; as claimed, unverified)"
    ) + 1 :]  # fmt: skip
    assert scope[:5] == [
        "  audience  crm",
        "  tool      crm.update",
        "  action    write",
        "  resource  crm://accounts/42/notes/**",
        "  intent    summarise, update-notes",
    ]
    assert scope[5:7] == ["  args      length max 2000", "  args      length max 1000"]
    assert re.fullmatch(r"  expires   \S+Z, in (9|10) min", scope[7])
    doc = json.loads(call("inspect", story.writer_token, "--json", cwd=story.dir).stdout)
    researcher_hop = next(c for c in doc["caveats"] if c["type"] == "validity" and c["hop"] == 1)
    assert doc["effective"] == {
        "audiences": ["crm"],
        "tools": ["crm.update"],
        "actions": ["write"],
        "resources": ["crm://accounts/42/notes/**"],
        "intents": ["summarise", "update-notes"],
        "args": ["length max 2000", "length max 1000"],
        "not_before": None,
        "expires": researcher_hop["value"]["expires"],  # the earliest of the two
        "expired": False,
        "not_yet_valid": False,
    }


def test_inspect_marks_expired_and_not_yet_valid_tokens(story: Story, call: Runner) -> None:
    now = int(time.time())
    expired = _minted(story, now=now - 7200, expires_in=3600)
    result = run("inspect", expired, cwd=story.dir)
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert lines[0].startswith("UNVERIFIED")
    assert re.fullmatch(r"EXPIRED   at \S+Z \(1 h ago\): verify denies it", lines[1])
    assert lines[-1].endswith("1 h ago (EXPIRED)")
    doc = json.loads(call("inspect", expired, "--json", cwd=story.dir).stdout)
    assert (doc["effective"]["expired"], doc["effective"]["not_yet_valid"]) == (True, False)

    later = _minted(story, now=now, not_before=now + 600, expires_in=3600)
    lines = call("inspect", later, cwd=story.dir).stdout.splitlines()
    assert lines[1].startswith("NOT YET VALID until ")
    assert any(line.endswith("(NOT YET VALID)") for line in lines)
    doc = json.loads(call("inspect", later, "--json", cwd=story.dir).stdout)
    assert (doc["effective"]["expired"], doc["effective"]["not_yet_valid"]) == (False, True)
    # Within the verifier's clock skew a not-before time is not flagged.
    soon = _minted(story, now=now, not_before=now + 5, expires_in=3600)
    doc = json.loads(call("inspect", soon, "--json", cwd=story.dir).stdout)
    assert doc["effective"]["not_yet_valid"] is False


def test_an_expired_token_is_not_attenuated_or_delegated(story: Story, call: Runner) -> None:
    expired = _minted(story, now=int(time.time()) - 7200, expires_in=3600)
    line = usage_error(run("attenuate", expired, "--tool", "crm.read", cwd=story.dir))
    assert re.fullmatch(
        r"delegation: error: cannot attenuate an expired token \(it expired at \S+Z, 1 h ago\): "
        r"ask its issuer for a new one",
        line,
    )
    args = ("--key", "o.key", "--to", story.public["r"], "--agent-id", "researcher")
    line = usage_error(call("delegate", expired, *args, cwd=story.dir))
    assert "cannot delegate an expired token" in line


EXPIRES_IN = [
    ("zero", "0", "--expires-in takes a whole number of seconds, 1 or more: not '0'"),
    ("negative", "-5", "--expires-in takes a whole number of seconds, 1 or more: not '-5'"),
    ("not a number", "1h", "--expires-in takes a whole number of seconds, 1 or more: not '1h'"),
    ("past the format's time limit", "99999999999",
     "--expires-in '99999999999' would end after 2514-05-30T01:53:03Z, the latest time a token "
     "can carry (at most "),
    ("absurdly large", "1" + "0" * 40,
     "--expires-in '1000000000000000000000000000000000000...' would end after "),
    ("thousands of digits", "9" * 5000, "--expires-in '9999999999999999999999999999999999999...'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"), [c[1:] for c in EXPIRES_IN], ids=[c[0] for c in EXPIRES_IN]
)
def test_out_of_range_expires_in_gets_a_human_message(
    bad_files: Story, call: Runner, value: str, message: str
) -> None:
    b = bad_files
    for command in (
        ["mint", "--keyring", "keyring.json", "--task-id", "t", "--approved-by", "a",
         "--statement", "s", "--holder", b.public["o"], "--audience", "crm"],
        ["attenuate", b.writer_token],
        ["delegate", b.writer_token, "--key", "w.key", "--to", b.public["o"], "--agent-id", "x"],
    ):  # fmt: skip
        line = usage_error(call(*command, "--expires-in", value, cwd=b.dir))
        assert line.startswith(f"delegation: error: {message}"), line
        assert len(line) < 200


def test_expires_in_zero_through_the_console_script(story: Story) -> None:
    result = run("attenuate", story.writer_token, "--expires-in", "0", cwd=story.dir)
    assert usage_error(result) == (
        "delegation: error: --expires-in takes a whole number of seconds, 1 or more: not '0'"
    )


def _mint_at(story: Story, runner: Runner, approved_at: str | None) -> Result:
    at = () if approved_at is None else ("--approved-at", approved_at)
    return runner(
        "mint", "--keyring", "keyring.json", "--task-id", "t", "--approved-by", "a",
        "--statement", "s", "--holder", story.public["o"], "--audience", "crm", *at,
        cwd=story.dir,
    )  # fmt: skip


def _approved_at(story: Story, runner: Runner, token: str) -> int:
    doc = json.loads(runner("inspect", token, "--json", cwd=story.dir).stdout)
    at: int = doc["task"]["approved_at"]
    return at


def test_mint_records_when_the_task_was_approved(story: Story, call: Runner) -> None:
    jan_15 = 1736928000  # 2025-01-15T08:00:00Z
    token = only_line(_mint_at(story, run, "2025-01-15T08:00:00Z"))  # a real process
    assert _approved_at(story, call, token) == jan_15
    for spelled in ("2025-01-15T09:00:00+01:00", str(jan_15)):
        assert _approved_at(story, call, only_line(_mint_at(story, call, spelled))) == jan_15
    before = int(time.time())
    token = only_line(_mint_at(story, call, None))
    assert before <= _approved_at(story, call, token) <= int(time.time())
    within_skew = str(int(time.time()) + 10)
    assert _approved_at(story, call, only_line(_mint_at(story, call, within_skew))) > before


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (str(int(time.time()) + 3600), "is in the future"),
        ("2400-01-01T00:00:00Z", "is in the future"),
        ("2025-01-15T08:00:00", "give a time zone"),
        ("yesterday", "takes an RFC 3339 time such as 2027-01-15T08:00:00Z, or Unix seconds"),
        ("-1", "a time lies from 1970-01-01T00:00:00Z to 2514-05-30T01:53:03Z"),
    ],
)
def test_mint_refuses_an_approval_time_it_cannot_use(
    story: Story, call: Runner, value: str, says: str
) -> None:
    line = usage_error(_mint_at(story, call, value))
    assert line.startswith("delegation: error: --approved-at")
    assert says in line


# --- the billing story (tests/e2e/conftest.py) and a new user's rough edges -----------------------


def test_inspect_readable_and_json_agree_and_show_no_secrets(billing: Billing) -> None:
    b = billing
    readable = run("inspect", b.summarizer, cwd=b.dir)
    as_json = run("inspect", "--json", b.summarizer, cwd=b.dir)
    assert readable.returncode == as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    assert [link["agent_id"] for link in doc["agents"]] == ["orchestrator", "analyst", "summarizer"]
    assert readable.stdout.startswith("UNVERIFIED")
    for link in doc["agents"][1:]:  # every hop id the JSON names is on the readable chain line
        assert re.search(rf"{link['agent_id']}\s+{link['public_key']}\s+hop id {link['hop_id']}",
                         readable.stdout)  # fmt: skip
    third = [c for c in doc["caveats"] if c["type"] == "third_party"]
    assert [c["hop"] for c in third] == [0]
    assert (
        f"human approval by {b.approver} at {BILLING_URL}, for billing.refund:refund"
        in readable.stdout
    )
    secrets = [k["secret"] for k in json.loads((b.dir / "ring.json").read_text("utf-8"))["keys"]]
    for name in (*b.public, "approver"):
        secrets.append(json.loads((b.dir / f"{name}.key").read_text("utf-8"))["private_key"])
    for text in (readable.stdout, as_json.stdout):
        for secret in secrets:
            assert secret not in text


def test_the_summarizer_reads_in_scope_and_is_denied_outside_it(
    billing: Billing, call: Runner
) -> None:
    b = billing
    proof = only_line(run("prove", b.summarizer, "--key", "summarizer.key", "--request", b.read,
                          cwd=b.dir))  # fmt: skip
    allowed = run("verify", b.summarizer, "--keyring", "ring.json", "--request", b.read,
                  "--proof", proof, cwd=b.dir)  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout
    lines = allowed.stdout.splitlines()
    assert lines[0] == "ALLOW"
    assert "agents    orchestrator -> analyst -> summarizer" in lines
    code, doc = decide(b, call, b.summarizer, "summarizer", b.read_other)
    assert code == 1
    assert where(doc) == [("resource_not_allowed", 0), ("resource_not_allowed", 2)]
    # the summarizer's read-only hop cannot refund; the issuer's approval caveat applies too
    code, doc = decide(b, call, b.summarizer, "summarizer", b.refund)
    assert [r["code"] for r in doc["reasons"]] == [
        "tool_not_allowed", "action_not_allowed", "approval_required",
    ]  # fmt: skip


class _Interrupted(io.StringIO):
    """Standard input where the user presses Ctrl-C while the command waits for a token."""

    def read(self, size: int | None = -1) -> str:
        raise KeyboardInterrupt


# Guards against: Ctrl-C while `delegation verify -` (or any TOKEN `-`) waits on standard input
# escaping main() as KeyboardInterrupt, so that the console script prints a Python traceback,
# although the CLI promises "Errors are one line on standard error, never a traceback".
# Expected: exit 130 (the usual 128 + SIGINT), at most one line on stderr.
def test_ctrl_c_while_reading_stdin_is_not_a_traceback(
    billing: Billing, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(billing.dir)
    monkeypatch.setattr(sys, "stdin", _Interrupted())
    try:
        code = main(["verify", "-", "--keyring", "ring.json", "--request", billing.read])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): the console script prints a traceback")
    assert code == 130
    assert len(capsys.readouterr().err.splitlines()) <= 1


# Guards against: a request file with a repeated key read silently, last value winning
# ({"audience": "billing", "audience": "crm"} checked as "crm"). The prover, the verifier and
# the tool server must read the same call; JSON parsers differ on duplicates (first wins, last
# wins, error), which is the parser-differential the threat model's "no duplicate keys" rule is
# about. Expected: refused as unreadable input, exit 2, like a request file that is not JSON.
def test_request_file_with_duplicate_keys_is_refused(billing: Billing, call: Runner) -> None:
    path = billing.dir / "duplicate.json"
    path.write_text('{"audience": "billing", "tool": "billing.read", "action": "read", '
                    '"resource": "billing://customers/77/invoices/1", "audience": "crm"}',
                    encoding="utf-8")  # fmt: skip
    result = call("verify", billing.summarizer, "--keyring", "ring.json", "--request", str(path),
                  cwd=billing.dir)  # fmt: skip
    assert "duplicate" in usage_error(result)


def test_public_keys_and_ids_that_start_with_a_dash_are_values_not_options(
    tmp_path: Path, call: Runner
) -> None:
    """base64url has '-' in its alphabet: about one key in 64 starts with it. argparse read
    `--holder -kg0...` as a missing value, which made every CLI story flaky at that rate."""
    dashed = agent_key(41)  # TEST FIXTURE ONLY: its key starts with '-'
    dashed.save(tmp_path / "dash.key")
    public = encode_public_key(dashed.public_key)
    assert public.startswith("-")
    only_line(call("keyring", "init", "ring.json", cwd=tmp_path))
    token = only_line(call(
        "mint", "--keyring", "ring.json", "--task-id", "-t1", "--approved-by", "a",
        "--statement", "s", "--holder", public, "--holder-id", "-odd-id", "--audience", "crm",
        cwd=tmp_path,
    ))  # fmt: skip
    other = encode_public_key(agent_key(62).public_key)
    assert other.startswith("-")
    child = only_line(call(
        "delegate", token, "--key", "dash.key", "--to", other, "--agent-id", "-sub",
        cwd=tmp_path,
    ))  # fmt: skip
    assert [link["agent_id"] for link in decode(child).describe()["agents"]] == ["-odd-id", "-sub"]


# Guards against: a key file of the wrong kind refused as "not a delegation-agent-key version 1
# file", naming neither the flag nor the file: with several key files in play the user guesses.
def test_key_file_errors_name_the_flag_and_the_file(billing: Billing, call: Runner) -> None:
    b = billing
    line = usage_error(call("prove", b.analyst, "--key", "approver.key", "--request", b.read,
                            cwd=b.dir))  # fmt: skip
    assert line == (
        "delegation: error: --key approver.key: not a delegation-agent-key version 1 file"
    )
    line = usage_error(call("discharge", b.analyst, "--key", "orch.key", "--request", b.refund,
                            cwd=b.dir))  # fmt: skip
    assert line.startswith("delegation: error: --key orch.key: not a delegation-approver-key")
    line = usage_error(call("mint", "--keyring", "orch.key", "--task-id", "t", "--approved-by",
                            "a", "--statement", "s", "--holder", b.public["orch"],
                            "--audience", "billing", cwd=b.dir))  # fmt: skip
    assert line.startswith("delegation: error: --keyring orch.key: not a delegation-keyring")


# Guards against: `verify --at` taking fewer time spellings than `mint --approved-at` (Unix
# seconds or RFC 3339), and saying so with argparse's usage block.
def test_verify_at_takes_the_times_mint_takes(billing: Billing, call: Runner) -> None:
    far = str(2**33)  # a Unix time long after every token here expires
    code, doc = decide(billing, call, billing.summarizer, "summarizer", billing.read, "--at", far)
    assert code == 1
    assert doc["reasons"][0]["code"] == "expired"
    line = usage_error(call("verify", billing.summarizer, "--keyring", "ring.json", "--request",
                            billing.read, "--at", "2030-01-01", cwd=billing.dir))  # fmt: skip
    assert "--at: give a time zone" in line


# Guards against: a value argparse's type check refuses printing the whole usage block (nine
# lines for mint) before the error ("invalid parse value" for a number of thousands of digits),
# and a shortened flag name (--max-use) taken for the flag it abbreviates, so that a new flag
# could change what an old command line means.
def test_a_bad_value_is_one_line_and_flags_are_never_abbreviated(
    billing: Billing, call: Runner
) -> None:
    line = usage_error(call("attenuate", billing.analyst, "--max-uses", "none", cwd=billing.dir))
    assert (
        line
        == "delegation: error: --max-uses takes a whole number, from 1 to 2147483647: not 'none'"
    )
    result = call("attenuate", billing.analyst, "--max-use", "1", cwd=billing.dir)
    assert result.returncode == 2
    assert "unrecognized arguments: --max-use" in result.stderr
