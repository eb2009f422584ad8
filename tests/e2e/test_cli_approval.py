"""Human approval on the command line, end to end: ``approver init``, ``mint --needs-approval``,
``prove --for-approval``, ``discharge``, ``bind``, ``require-approval`` and ``verify --discharge
--state``.

The story (built once per module in a temporary directory): an approval service makes its key
with ``approver init``; the issuer mints a root token whose scope marks ``crm.update:write`` as
needing approval and the orchestrator delegates to a writer and to a reviewer (a sibling that
may write too). The writer signs its approval request; the approval holds for the writer and
its chain only. The main path runs through the installed console script as real processes; the
tables run ``main()`` in this process.
"""

from __future__ import annotations

import json
import os
import re
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
    Request,
    Scope,
    TaskRecord,
    attenuate,
    decode,
    decode_public_key,
    mint,
    require_approval,
)
from delegation._thirdparty.approval import Approver
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY, ApproverKey
from delegation._thirdparty.discharges import BOUND_TWICE, UNBOUND_DISCHARGE
from delegation._wire import b64decode, b64encode
from delegation.caveats import ApprovedFor
from delegation.cli.approval import APPROVAL_CID, BOUND_NOTE, CALL_PROOF, NOT_APPROVED, PROOF_NEEDED
from delegation.limits import MAX_CAVEAT_BYTES, MAX_TOKEN_CHARS
from tests.e2e.helpers import (
    Billing,
    Result,
    Runner,
    ask,
    bound_by_hand,
    decide,
    describe,
    in_process,
    only_line,
    run,
    run_on_terminal,
    sign,
    usage_error,
    where,
    write_request,
    write_test_approver,
    write_test_keys,
)

README = Path(__file__).resolve().parents[2] / "README.md"

URL = "https://approvals.example/crm"


@pytest.fixture
def call(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return in_process(capsys, monkeypatch)


@dataclass(frozen=True)
class World:
    dir: Path
    public: dict[str, str]
    approver: str
    root: str
    writer: str
    sibling: str
    request: str
    third_party: str
    """A writer's token, minted without approval, that needs a (purpose-0) third party's
    discharge from the same approver key for crm.update: what a bare cid is still for."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    d = tmp_path_factory.mktemp("approval")
    public = write_test_keys(d, {"o": 11, "w": 12, "r": 13})
    approver = only_line(run("approver", "init", "--out", "approver.key", cwd=d))
    root = only_line(run(
        "mint", "--keyring", "keyring.json", "--task-id", "task-42", "--approved-by", "alice",
        "--statement", "File a summary note on account 42", "--holder", public["o"],
        "--audience", "crm", "--tool", "crm.read", "--tool", "crm.update",
        "--resource", "crm://accounts/42/**",
        "--needs-approval", "crm.update:write", "--approver", approver,
        "--approval-location", URL,
        cwd=d,
    ))  # fmt: skip
    writer = only_line(run(
        "delegate", root, "--key", "o.key", "--to", public["w"], "--agent-id", "writer", cwd=d
    ))  # fmt: skip
    sibling = only_line(run(
        "delegate", root, "--key", "o.key", "--to", public["r"], "--agent-id", "reviewer", cwd=d
    ))  # fmt: skip
    request = write_request(d / "note.json")
    assert only_line(run("state", "init", "state.db", cwd=d)).startswith("state.db: ")
    plain = only_line(run(
        "mint", "--keyring", "keyring.json", "--task-id", "task-43", "--approved-by", "alice",
        "--statement", "File a note on account 42", "--holder", public["o"], "--audience", "crm",
        cwd=d,
    ))  # fmt: skip
    plain_writer = only_line(run(
        "delegate", plain, "--key", "o.key", "--to", public["w"], "--agent-id", "writer", cwd=d
    ))  # fmt: skip
    approver_key = ApproverKey.load(d / "approver.key").public_key
    third_party = require_approval(
        plain_writer, approver_key, rules=["crm.update"], purpose=PURPOSE_THIRD_PARTY
    ).encode()
    return World(d, public, approver, root, writer, sibling, request, third_party)


def verify(
    w: World, runner: Runner, token: str, request: str, key: str, *args: str
) -> tuple[int, dict[str, Any]]:
    proof = sign(token, w.dir / key, request)
    result = runner(
        "verify", token, "--keyring", "keyring.json", "--request", request, "--proof", proof,
        "--json", *args,
        cwd=w.dir,
    )  # fmt: skip
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert result.returncode == (0 if doc["allowed"] else 1)
    return result.returncode, doc


def approve(
    w: World, runner: Runner, token: str, request: str, *args: str, holder: str = "w.key"
) -> list[str]:
    """``discharge TOKEN --yes`` with the holder's fresh signed request: the bound discharges."""
    proof = ask(token, w.dir / holder, request)
    result = runner(
        "discharge", token, "--key", "approver.key", "--request", request, "--proof", proof,
        "--yes", *args,
        cwd=w.dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def unbound_approval(w: World, token: str, request: str, holder: str) -> str:
    """An approval as the library's approver gives it (not yet bound), asked by ``holder``."""
    approver = Approver(ApproverKey.load(w.dir / "approver.key"))
    call = Request.from_json(json.loads(Path(request).read_text(encoding="utf-8")))
    [pending] = approver.pending(token, call, ask(token, w.dir / holder, request))
    return approver.approve(pending)


def third_party_cid(w: World) -> str:
    doc = json.loads(run("inspect", w.third_party, "--json", cwd=w.dir).stdout)
    [cid] = [c["value"]["cid"] for c in doc["caveats"] if c["type"] == "third_party"]
    return str(cid)


def test_approver_init_writes_an_owner_only_x25519_key(world: World) -> None:
    path = world.dir / "approver.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["kind"] == "delegation-approver-key"
    assert doc["public_key"] == world.approver
    assert world.approver not in world.public.values()


def test_the_approval_story_through_the_console_script(world: World) -> None:
    w = world
    base = ("--keyring", "keyring.json", "--request", w.request, "--state", "state.db", "--json")

    def verify_run(*extra: str, proof: str | None = None) -> tuple[int, str | None]:
        proof = proof or sign(w.writer, w.dir / "w.key", w.request)
        result = run("verify", w.writer, *base, "--proof", proof, *extra, cwd=w.dir)
        return result.returncode, json.loads(result.stdout)["code"]

    # Without an approval the writer's update is denied.
    assert verify_run() == (1, Code.APPROVAL_REQUIRED)

    # The writer signs its request to the approver.
    asking = ("prove", w.writer, "--key", "w.key", "--request", w.request, "--for-approval")
    request_proof = only_line(run(*asking, cwd=w.dir))
    token_id = json.loads(run("inspect", w.writer, "--json", cwd=w.dir).stdout)["token_id"]

    # The approver sees task, chain, who asked and the call; without --yes nothing is approved.
    discharge = ("discharge", w.writer, "--key", "approver.key", "--request", w.request)
    review = run(*discharge, "--proof", request_proof, cwd=w.dir)
    assert review.returncode == 1
    assert review.stdout == ""
    assert "task 'task-42' approved by alice" in review.stderr
    assert "agents: orchestrator -> writer" in review.stderr
    asked_by = f"asked by: writer (key {w.public['w']}, signed), token {token_id}"
    assert asked_by in review.stderr
    assert "crm.update write on crm" in review.stderr
    assert f"asked at {URL}" in review.stderr
    assert BOUND_NOTE in review.stderr
    assert "as the token states them" not in review.stderr  # the note of unbound approvals
    assert review.stderr.splitlines()[-1] == (
        "delegation: not approved (pass --yes after a human has reviewed it)"
    )

    # With --yes: one discharge, bound to the writer's token; the call is allowed once.
    yes = run(*discharge, "--proof", request_proof, "--yes", cwd=w.dir)
    approval = only_line(yes)
    assert asked_by in yes.stderr
    assert "approved: valid 300 s, for this call by writer through this chain only, once" in (
        yes.stderr
    )
    # The signed request is no proof for the call itself (nothing is spent by trying).
    assert verify_run("--discharge", approval, proof=request_proof) == (1, Code.POP_INVALID)
    assert verify_run("--discharge", approval) == (0, None)
    # A separate verify process sharing the state file: the approval is spent.
    assert verify_run("--discharge", approval) == (1, Code.REPLAY)


def test_inspect_shows_the_approval_caveat_before_any_hop(world: World, call: Runner) -> None:
    doc = json.loads(call("inspect", world.writer, "--json", cwd=world.dir).stdout)
    caveats = doc["caveats"]
    [approval] = [c for c in caveats if c["type"] == "third_party"]
    first_hop = next(c["index"] for c in caveats if c["type"] == "hop")
    assert approval["hop"] == 0
    assert approval["index"] < first_hop
    value = approval["value"]
    assert value["purpose"] == "approval"
    assert value["third_party"] == world.approver
    assert value["location"] == URL
    assert value["applies_to"] == ["crm.update:write"]
    assert value["cid"]
    text = call("inspect", world.writer, cwd=world.dir).stdout
    assert f"human approval by {world.approver} at {URL}, for crm.update:write" in text
    assert f"cid {value['cid']}" in text
    assert doc["agents"][1]["hop_id"] in text


def test_inspect_shows_whom_an_approved_for_caveat_names(world: World, call: Runner) -> None:
    pinned = ApprovedFor(decode_public_key(world.public["w"]), 3, bytes(range(32)), b"\x07" * 16)
    token = attenuate(world.writer, [pinned]).encode()
    doc = json.loads(call("inspect", token, "--json", cwd=world.dir).stdout)
    assert doc["caveats"][-1]["value"] == pinned.describe()
    text = call("inspect", token, cwd=world.dir).stdout
    assert (
        f"approved_for  holder {world.public['w']}, token_id {bytes(range(16)).hex()}, caveats 3, "
        f"approval_id {'07' * 16}"
    ) in text


def test_an_approval_covers_one_call_and_one_token(world: World, call: Runner) -> None:
    w = world
    [discharge] = approve(w, call, w.writer, w.request)
    other = write_request(w.dir / "other.json", args={"length": 641})
    code, doc = verify(w, call, w.writer, other, "w.key", "--discharge", discharge)
    assert (code, doc["code"]) == (1, Code.APPROVAL_REQUIRED)
    # The orchestrator's (ancestor) token carries the same caveat; the writer's discharge is
    # bound to the writer's token and does not satisfy it there.
    code, doc = verify(w, call, w.root, w.request, "o.key", "--discharge", discharge)
    assert (code, doc["code"]) == (1, Code.BAD_DISCHARGE)
    code, doc = verify(w, call, w.writer, w.request, "w.key", "--discharge", "garbage")
    assert (code, doc["code"]) == (1, Code.BAD_DISCHARGE)
    # The same discharge twice is rejected, not counted twice.
    args = ("--discharge", discharge, "--discharge", discharge)
    code, doc = verify(w, call, w.writer, w.request, "w.key", *args)
    assert (code, doc["code"]) == (1, Code.BAD_DISCHARGE)
    # Calls the rule does not cover need no approval.
    read = write_request(w.dir / "read.json", tool="crm.read", action="read")
    assert verify(w, call, w.writer, read, "w.key")[0] == 0


def test_a_third_party_discharges_a_bare_cid_that_the_holder_binds(
    world: World, call: Runner
) -> None:
    w = world
    token = w.third_party
    doc = json.loads(call("inspect", token, "--json", cwd=w.dir).stdout)
    cid = third_party_cid(w)
    args = ("--key", "approver.key", "--request", w.request)
    review = call("discharge", cid, *args, cwd=w.dir)
    assert review.returncode == 1
    assert f"third-party discharge for the tokens of root {doc['root_id']}" in review.stderr
    assert "not approved" in review.stderr
    unbound = only_line(call("discharge", cid, *args, "--yes", cwd=w.dir))
    code, decision = verify(w, call, token, w.request, "w.key", "--discharge", unbound)
    assert (code, decision["code"]) == (1, Code.BAD_DISCHARGE)
    # Bound to a narrowing of the token it does not work with the token itself.
    narrowed = only_line(call("attenuate", token, "--tool", "crm.update", cwd=w.dir))
    for_other = only_line(call("bind", narrowed, unbound, cwd=w.dir))
    code, decision = verify(w, call, token, w.request, "w.key", "--discharge", for_other)
    assert (code, decision["code"]) == (1, Code.BAD_DISCHARGE)
    bound = only_line(call("bind", token, "-", cwd=w.dir, stdin=unbound + "\n"))
    code, decision = verify(w, call, token, w.request, "w.key", "--discharge", bound)
    assert (code, decision["code"]) == (0, None)
    # A bare cid is discharged for any holder: a holder's signed request has no place here.
    line = usage_error(call("discharge", cid, *args, "--proof", "x", "--yes", cwd=w.dir))
    assert line == (
        "delegation: error: --proof goes with a TOKEN: a bare caveat id is discharged for any "
        "holder"
    )


def test_discharge_refuses_the_bare_cid_of_an_approval(world: World, call: Runner) -> None:
    w = world
    doc = json.loads(call("inspect", w.writer, "--json", cwd=w.dir).stdout)
    cid = next(c["value"]["cid"] for c in doc["caveats"] if c["type"] == "third_party")
    proof = ask(w.writer, w.dir / "w.key", w.request)
    for extra in ((), ("--yes",), ("--proof", proof, "--yes")):
        result = call("discharge", cid, "--key", "approver.key", "--request", w.request, *extra,
                      cwd=w.dir)  # fmt: skip
        assert usage_error(result) == f"delegation: error: {APPROVAL_CID}"


def test_discharge_exits_1_when_the_call_needs_nothing_from_this_key(
    world: World, call: Runner, tmp_path: Path
) -> None:
    w = world
    read = write_request(tmp_path / "read.json", tool="crm.read", action="read")
    proof = ask(w.writer, w.dir / "w.key", read)
    result = call("discharge", w.writer, "--key", "approver.key", "--request", read,
                  "--proof", proof, cwd=w.dir)  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert "needs no approval" in result.stderr
    assert "crm.update:write" in result.stderr
    write_test_approver(tmp_path / "other.key", 99)
    proof = ask(w.writer, w.dir / "w.key", w.request)
    result = call("discharge", w.writer, "--key", str(tmp_path / "other.key"),
                  "--request", w.request, "--proof", proof, "--yes", cwd=w.dir)  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert "asks nothing of approver" in result.stderr


def test_a_holder_adds_its_own_approval_requirement(
    world: World, call: Runner, tmp_path: Path
) -> None:
    w = world
    state = str(tmp_path / "fresh.db")  # the approvals are spent here, not in the shared file
    only_line(call("state", "init", state, cwd=w.dir))
    second = write_test_approver(tmp_path / "second.key", 77)
    token = only_line(call(
        "require-approval", w.writer, "--approver", second, "--location", "https://b.example",
        "--rule", "crm.update", cwd=w.dir,
    ))  # fmt: skip
    [first] = approve(w, call, token, w.request)
    code, doc = verify(w, call, token, w.request, "w.key", "--discharge", first)
    assert (code, doc["code"]) == (1, Code.APPROVAL_REQUIRED)
    assert [r["hop"] for r in doc["reasons"]] == [1]  # the writer's own caveat, after its hop
    [other] = approve(w, call, token, w.request, "--key", str(tmp_path / "second.key"))
    # Both discharges, piped in one a line.
    proof = sign(token, w.dir / "w.key", w.request)
    result = call(
        "verify", token, "--keyring", "keyring.json", "--request", w.request, "--proof", proof,
        "--discharge", "-", "--json", "--state", state,
        cwd=w.dir, stdin=f"{first}\n{other}\n",
    )  # fmt: skip
    assert (result.returncode, json.loads(result.stdout)["code"]) == (0, None)
    # Without rules the caveat covers every call.
    every = only_line(call("require-approval", w.writer, "--approver", second, cwd=w.dir))
    read = write_request(tmp_path / "read.json", tool="crm.read", action="read")
    code, doc = verify(w, call, every, read, "w.key")
    assert (code, doc["code"]) == (1, Code.APPROVAL_REQUIRED)


def test_the_approval_lifetime_is_bounded(world: World, call: Runner) -> None:
    [short] = approve(world, call, world.writer, world.request, "--ttl", "1")
    far = "2100-01-01T00:00:00Z"
    code, doc = verify(world, call, world.writer, world.request, "w.key", "--discharge", short,
                       "--at", far)  # fmt: skip
    assert code == 1
    assert Code.EXPIRED in [r["code"] for r in doc["reasons"]]
    for ttl in ("0", "901"):
        result = call("discharge", world.writer, "--key", "approver.key", "--request",
                      world.request, "--ttl", ttl, cwd=world.dir)  # fmt: skip
        assert result.returncode == 2
        assert "Traceback" not in result.stderr


# --- the approval is for the holder and the chain that asked ---------------------------------


def test_an_approval_holds_for_the_holder_and_chain_that_asked_only(
    world: World, call: Runner, tmp_path: Path
) -> None:
    w = world
    state = str(tmp_path / "fresh.db")
    only_line(call("state", "init", state, cwd=w.dir))
    unbound = unbound_approval(w, w.writer, w.request, "w.key")
    doc = json.loads(call("inspect", w.writer, "--json", cwd=w.dir).stdout)
    token_id = doc["token_id"]
    index = next(c["index"] for c in doc["caveats"] if c["type"] == "third_party")
    # The child the writer delegates to, and the writer's key reached through another branch
    # (another hop: delegating again to the same id and key signs the same hop, the same chain).
    child = only_line(call("delegate", w.writer, "--key", "w.key", "--to", w.public["r"],
                           "--agent-id", "helper", cwd=w.dir))  # fmt: skip
    again = only_line(call("delegate", w.root, "--key", "o.key", "--to", w.public["w"],
                           "--agent-id", "scribe", cwd=w.dir))  # fmt: skip
    another_chain = (
        "delegation: error: cannot bind it to this token: the approval was given to another "
        f"chain (token {token_id}), not one this token extends"
    )
    another_holder = (
        "delegation: error: cannot bind it to this token: the approval was given to the holder "
        f"{w.public['w']}, not this token's"
    )
    others = [  # (who, token, key file, what bind says)
        ("the parent", w.root, "o.key", another_chain),
        ("the sibling", w.sibling, "r.key", another_chain),
        ("the same key on another branch", again, "w.key", another_chain),
        ("the child", child, "r.key", another_holder),
    ]
    for who, token, key, refusal in others:
        assert usage_error(call("bind", token, unbound, cwd=w.dir)) == refusal, who
        # Bound by hand, the verifier denies it at the approval caveat; nothing is spent.
        forced = bound_by_hand(token, unbound)
        code, doc = verify(w, call, token, w.request, key, "--discharge", forced, "--state", state)
        assert code == 1, who
        [reason] = doc["reasons"]
        assert (reason["code"], reason["hop"], reason["caveat"]) == (Code.WRONG_CHAIN, 0, index)
    proof = sign(w.sibling, w.dir / "r.key", w.request)
    text = call("verify", w.sibling, "--keyring", "keyring.json", "--request", w.request,
                "--proof", proof, "--discharge", bound_by_hand(w.sibling, unbound),
                cwd=w.dir)  # fmt: skip
    assert text.stdout.splitlines()[-2:] == [
        "hint      that approval was given to another agent or chain: this token's holder",
        "          asks for its own (prove --for-approval, then discharge --proof)",
    ]
    # The writer's own narrowing of its token binds it, and makes the call: once, for all.
    narrowed = only_line(call("attenuate", w.writer, "--tool", "crm.update", cwd=w.dir))
    mine = only_line(call("bind", narrowed, unbound, cwd=w.dir))
    code, doc = verify(w, call, narrowed, w.request, "w.key", "--discharge", mine, "--state", state)
    assert (code, doc["code"]) == (0, None)
    again_bound = only_line(call("bind", w.writer, unbound, cwd=w.dir))
    code, doc = verify(w, call, w.writer, w.request, "w.key", "--discharge", again_bound,
                       "--state", state)  # fmt: skip
    assert (code, doc["code"]) == (1, Code.REPLAY)


def test_prove_for_approval_signs_a_request_and_not_a_call(world: World, call: Runner) -> None:
    w = world
    asking = ("prove", w.writer, "--key", "w.key", "--request", w.request)
    request_proof = only_line(call(*asking, "--for-approval", cwd=w.dir))
    call_proof = only_line(call(*asking, cwd=w.dir))
    discharge = ("discharge", w.writer, "--key", "approver.key", "--request", w.request, "--yes")
    only_line(call(*discharge, "--proof", request_proof, cwd=w.dir))
    assert usage_error(call(*discharge, "--proof", call_proof, cwd=w.dir)) == (
        f"delegation: error: {CALL_PROOF}"
    )
    result = call("verify", w.writer, "--keyring", "keyring.json", "--request", w.request,
                  "--proof", request_proof, "--json", cwd=w.dir)  # fmt: skip
    assert Code.POP_INVALID in [r["code"] for r in json.loads(result.stdout)["reasons"]]
    # Only the holder signs one, as for a call proof.
    line = usage_error(call("prove", w.writer, "--key", "o.key", "--request", w.request,
                            "--for-approval", cwd=w.dir))  # fmt: skip
    assert line == ("delegation: error: only the token's current holder can prove possession of it")
    assert "--for-approval" in call("prove", "--help", cwd=w.dir).stdout


def test_discharge_refuses_a_request_the_holder_did_not_sign(
    world: World, call: Runner, tmp_path: Path
) -> None:
    w = world
    discharge = ("discharge", w.writer, "--key", "approver.key", "--request", w.request, "--yes")
    assert usage_error(call(*discharge, cwd=w.dir)) == f"delegation: error: {PROOF_NEEDED}"
    other = write_request(tmp_path / "other.json", args={"length": 641})
    now = int(time.time())
    not_signed = (
        "--proof: the approval request is not signed by the token's holder over this token and call"
    )
    bad = [  # (proof, the error)
        ("garbage", "--proof: the approval request's proof is malformed"),
        (ask(w.sibling, w.dir / "r.key", w.request), not_signed),  # another token's holder
        (ask(w.writer, w.dir / "w.key", other), not_signed),  # another call
        (ask(w.writer, w.dir / "w.key", w.request, now=now - 120),
         "--proof: the approval request's proof is too old; sign a fresh one"),
        (ask(w.writer, w.dir / "w.key", w.request, now=now + 120),
         "--proof: the approval request's proof is dated in the future"),
    ]  # fmt: skip
    for proof, error in bad:
        assert usage_error(call(*discharge, "--proof", proof, cwd=w.dir)) == (
            f"delegation: error: {error}"
        )


def test_discharge_reads_the_proof_from_standard_input_as_its_one_input(
    world: World, call: Runner
) -> None:
    w = world
    proof = ask(w.writer, w.dir / "w.key", w.request)
    discharge = ("discharge", w.writer, "--key", "approver.key", "--request", w.request)
    only_line(run(*discharge, "--proof", "-", "--yes", cwd=w.dir, stdin=proof + "\n"))
    request = Path(w.request).read_text(encoding="utf-8")
    for args, readers in (
        (("discharge", w.writer, "--request", "-", "--proof", "-"), "--request and --proof"),
        (("discharge", "-", "--request", w.request, "--proof", "-"), "TOKEN_OR_CID and --proof"),
    ):
        line = usage_error(call(*args, "--key", "approver.key", "--yes", cwd=w.dir,
                                stdin=request))  # fmt: skip
        assert line == (
            f"delegation: error: only one input can come from standard input, but {readers} are -"
        )
    # Standard input held the proof, so there is no terminal to ask on: --yes is needed.
    result = run_on_terminal(*discharge, "--proof", "-", cwd=w.dir,
                             typed=proof.encode() + b"\n\x04")  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == NOT_APPROVED


MINT = ["mint", "--keyring", "keyring.json", "--task-id", "t", "--approved-by", "a",
        "--statement", "s", "--holder", "{o}", "--audience", "crm"]  # fmt: skip
BAD_USAGE = [
    ("needs-approval without approver", [*MINT, "--needs-approval", "crm.update"]),
    ("approver without needs-approval", [*MINT, "--approver", "{approver}"]),
    ("approver key too short", [*MINT, "--needs-approval", "x", "--approver", "AAAA"]),
    ("approver key not base64url", [*MINT, "--needs-approval", "x", "--approver", "a+b/"]),
    ("low-order approver key", [*MINT, "--needs-approval", "x", "--approver", "A" * 43]),
    ("bad approval location", [*MINT, "--needs-approval", "x", "--approver", "{approver}",
                               "--approval-location", "line\nbreak"]),
    ("approver init over a file", ["approver", "init", "--out", "approver.key"]),
    ("require-approval bad key", ["require-approval", "{writer}", "--approver", "short"]),
    ("require-approval garbage token", ["require-approval", "!!", "--approver", "{approver}"]),
    ("discharge with an agent key", ["discharge", "{writer}", "--key", "w.key",
                                     "--request", "{request}"]),
    ("discharge with a missing key", ["discharge", "{writer}", "--key", "nope.key",
                                      "--request", "{request}"]),
    ("discharge garbage", ["discharge", "garbage", "--key", "approver.key",
                           "--request", "{request}"]),
    ("rule with an empty action", [*MINT, "--needs-approval", "crm.update:"]),
    ("rule with an empty tool", ["require-approval", "{writer}", "--approver", "{approver}",
                                 "--rule", ":write"]),
    ("ttl of 0", ["discharge", "{writer}", "--key", "approver.key", "--request", "{request}",
                  "--ttl", "0"]),
    ("ttl over the limit", ["discharge", "{writer}", "--key", "approver.key",
                            "--request", "{request}", "--ttl", "901"]),
    ("discharge token and request from stdin", ["discharge", "-", "--key", "approver.key",
                                                "--request", "-"]),
    ("discharge another approver's cid", ["discharge", "{cid}", "--key", "other.key",
                                          "--request", "{request}", "--yes"]),
    ("discharge proof and request from stdin", ["discharge", "{writer}", "--key", "approver.key",
                                                "--request", "-", "--proof", "-"]),
    ("bind another chain's approval", ["bind", "{sibling}", "{approval}"]),
    ("bind garbage", ["bind", "{writer}", "garbage"]),
    ("bind to a token without that caveat", ["bind", "{plain}", "{unbound}"]),
    ("bind both from stdin", ["bind", "-", "-"]),
    ("verify token and discharge from stdin", ["verify", "-", "--keyring", "keyring.json",
                                        "--request", "{request}", "--discharge", "-"]),
]  # fmt: skip
ARGPARSE_USAGE = [
    ("approver init without --out", ["approver", "init"]),
    ("discharge a token without a call", ["discharge", "{writer}", "--key", "approver.key"]),
    ("discharge a cid without a call", ["discharge", "{cid}", "--key", "approver.key"]),
    ("discharge without a key", ["discharge", "{writer}"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def values(world: World) -> dict[str, str]:
    """Inputs for the tables, made with the library (no interpreter start-ups)."""
    write_test_approver(world.dir / "other.key", 98)
    raw = decode(world.writer).raw
    cid = next(c.cid for c in raw.caveats if c.vid is not None)
    keyring = Keyring.load(world.dir / "keyring.json")
    holder = Agent("o", AgentKey.load(world.dir / "o.key").public_key)
    task = TaskRecord(task_id="t", approved_by="a", approved_at=int(time.time()), statement="s")
    plain = mint(keyring, task, holder, Scope(["crm"], expires_in=60)).encode()
    note = Request.from_json(json.loads(Path(world.request).read_text(encoding="utf-8")))
    third_party = b64decode(third_party_cid(world), MAX_TOKEN_CHARS, "cid")
    approver = Approver(ApproverKey.load(world.dir / "approver.key"))
    unbound = approver.discharge_ticket(third_party, note)
    approval = unbound_approval(world, world.writer, world.request, "w.key")
    return {
        "o": world.public["o"], "approver": world.approver, "writer": world.writer,
        "request": world.request, "cid": b64encode(cid), "plain": plain, "unbound": unbound,
        "sibling": world.sibling, "approval": approval,
    }  # fmt: skip


@pytest.mark.parametrize("args", [c[1] for c in BAD_USAGE], ids=[c[0] for c in BAD_USAGE])
def test_bad_usage_exits_2_with_one_line(
    world: World, values: dict[str, str], call: Runner, args: list[str]
) -> None:
    usage_error(call(*[a.format(**values) for a in args], cwd=world.dir))


@pytest.mark.parametrize("args", [c[1] for c in ARGPARSE_USAGE], ids=[c[0] for c in ARGPARSE_USAGE])
def test_bad_arguments_exit_2_with_usage(
    world: World, values: dict[str, str], call: Runner, args: list[str]
) -> None:
    result = call(*[a.format(**values) for a in args], cwd=world.dir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: delegation")


def test_help_names_the_approval_commands(tmp_path: Path, call: Runner) -> None:
    text = call("--help", cwd=tmp_path).stdout
    for command in ("approver", "require-approval", "discharge", "bind"):
        assert command in text
    mint_help = call("mint", "--help", cwd=tmp_path).stdout
    for flag in ("--needs-approval", "--approver", "--approval-location", "--max-uses"):
        assert flag in mint_help


# --- a finished command for a new user ------------------------------------------------------


def test_pubkey_prints_an_approver_keys_public_key(world: World) -> None:
    assert only_line(run("pubkey", "approver.key", cwd=world.dir)) == world.approver


def test_discharge_usage_shows_the_request_is_required(world: World, call: Runner) -> None:
    usage = call("discharge", "--help", cwd=world.dir).stdout.split("\n\n")[0]
    assert "--request REQUEST.json" in usage
    assert "[--request" not in usage


PROMPT = "approve? [y/N] "


def _ask(w: World, typed: bytes) -> Result:
    proof = ask(w.writer, w.dir / "w.key", w.request)
    return run_on_terminal(
        "discharge", w.writer, "--key", "approver.key", "--request", w.request, "--proof", proof,
        cwd=w.dir, typed=typed, after=PROMPT.encode(),
    )  # fmt: skip


def test_discharge_on_a_terminal_asks_before_approving(
    world: World, call: Runner, tmp_path: Path
) -> None:
    yes = _ask(world, b"y\n")
    assert yes.returncode == 0, yes.stderr
    [discharge] = yes.stdout.splitlines()
    summary, answer = yes.stderr.split(PROMPT)
    assert "task 'task-42' approved by alice" in summary  # shown before the question
    assert "agents: orchestrator -> writer" in summary
    assert f"asked by: writer (key {world.public['w']}, signed)" in summary
    assert "crm.update write on crm" in summary
    assert BOUND_NOTE in summary
    assert answer.startswith("y\napproved: valid 300 s")
    # Each yes is a new approval, so spending it in the shared state file is no replay.
    spend = ("--discharge", discharge, "--state", "state.db")
    code, doc = verify(world, call, world.writer, world.request, "w.key", *spend)
    assert (code, doc["code"]) == (0, None)

    for typed in (b"n\n", b"\n", b"maybe\n", b"\x04"):  # no, Enter (the default), other, Ctrl-D
        no = _ask(world, typed)
        assert (no.returncode, no.stdout) == (1, ""), typed
        assert PROMPT in no.stderr
        assert no.stderr.splitlines()[-1] == "delegation: not approved", typed


def test_discharge_without_a_terminal_needs_yes(world: World) -> None:
    # A pipe on standard input is no one to ask: the clear refusal, as before.
    proof = ask(world.writer, world.dir / "w.key", world.request)
    result = run("discharge", world.writer, "--key", "approver.key", "--request", world.request,
                 "--proof", proof, cwd=world.dir, stdin="y\n")  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert "approve?" not in result.stderr
    assert result.stderr.splitlines()[-1] == NOT_APPROVED


def test_discharge_reads_the_request_from_standard_input(world: World) -> None:
    request = Path(world.request).read_text(encoding="utf-8")
    proof = ask(world.writer, world.dir / "w.key", world.request)
    result = run("discharge", world.writer, "--key", "approver.key", "--request", "-", "--yes",
                 "--proof", proof, cwd=world.dir, stdin=request)  # fmt: skip
    only_line(result)
    # Standard input held the request, so there is no terminal to ask on: --yes is needed.
    result = run_on_terminal(
        "discharge", world.writer, "--key", "approver.key", "--request", "-", "--proof", proof,
        cwd=world.dir, typed=request.encode() + b"\n\x04",
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == NOT_APPROVED


def test_an_unbound_or_twice_bound_discharge_is_named_as_such(world: World, call: Runner) -> None:
    w = world
    token = w.third_party
    unbound = only_line(call("discharge", third_party_cid(w), "--key", "approver.key",
                             "--request", w.request, "--yes", cwd=w.dir))  # fmt: skip
    code, decision = verify(w, call, token, w.request, "w.key", "--discharge", unbound)
    assert (code, decision["code"]) == (1, Code.BAD_DISCHARGE)
    assert [r["detail"] for r in decision["reasons"]] == [UNBOUND_DISCHARGE]
    proof = sign(token, w.dir / "w.key", w.request)
    text = run("verify", token, "--keyring", "keyring.json", "--request", w.request,
               "--proof", proof, "--discharge", unbound, cwd=w.dir)  # fmt: skip
    assert text.returncode == 1
    assert text.stdout.splitlines()[-1] == (
        "hint      bind it first: delegation bind TOKEN DISCHARGE, then pass what it prints"
    )
    # `discharge TOKEN` says that what it prints is bound already; bound again, it is named.
    result = call("discharge", w.writer, "--key", "approver.key", "--request", w.request,
                  "--proof", ask(w.writer, w.dir / "w.key", w.request), "--yes",
                  cwd=w.dir)  # fmt: skip
    assert "already bound" in result.stderr
    twice = only_line(call("bind", w.writer, only_line(result), cwd=w.dir))
    code, decision = verify(w, call, w.writer, w.request, "w.key", "--discharge", twice)
    assert [r["detail"] for r in decision["reasons"]] == [BOUND_TWICE]
    proof = sign(w.writer, w.dir / "w.key", w.request)
    text = call("verify", w.writer, "--keyring", "keyring.json", "--request", w.request,
                "--proof", proof, "--discharge", twice, cwd=w.dir)  # fmt: skip
    assert text.stdout.splitlines()[-1] == (
        "hint      `discharge TOKEN` prints bound discharges: pass them as printed, no bind"
    )


def test_require_approval_names_its_location_flag_as_mint_does(
    world: World, call: Runner, tmp_path: Path
) -> None:
    second = write_test_approver(tmp_path / "second.key", 78)
    for flag in ("--approval-location", "--location"):  # the old name still works
        token = only_line(call("require-approval", world.writer, "--approver", second,
                               flag, "https://b.example", cwd=world.dir))  # fmt: skip
        caveats = json.loads(call("inspect", token, "--json", cwd=world.dir).stdout)["caveats"]
        assert caveats[-1]["value"]["location"] == "https://b.example"
    usage = call("require-approval", "--help", cwd=world.dir).stdout.split("\n\n")[0]
    assert "--approval-location URL" in usage


# Guards against: `discharge CID` decoding a bare cid of any size the text limit allows (16 KB),
# where the token framing bounds every cid to MAX_CAVEAT_BYTES. It is refused unread.
def test_discharge_refuses_a_bare_cid_over_the_caveat_limit(world: World, call: Runner) -> None:
    for size in (MAX_CAVEAT_BYTES + 1, 16 * 1024):
        big = b64encode(b"\xa1" + bytes(size - 1))  # a CBOR map's first byte, then anything
        result = call("discharge", big, "--key", "approver.key", "--request", world.request,
                      "--yes", cwd=world.dir)  # fmt: skip
        assert usage_error(result) == (
            f"delegation: error: third-party caveat is larger than {MAX_CAVEAT_BYTES} bytes"
        )


# --- the billing story (tests/e2e/conftest.py) ----------------------------------------------------


def test_a_refund_needs_a_human_approval_spent_once_across_runs(
    billing: Billing, call: Runner, tmp_path: Path
) -> None:
    b = billing
    state = str(tmp_path / "state.db")
    assert only_line(call("state", "init", state, cwd=b.dir)).startswith(state)
    code, doc = decide(b, call, b.analyst, "analyst", b.refund, "--state", state)
    assert where(doc) == [("approval_required", 0)]

    asking = only_line(run("prove", b.analyst, "--key", "analyst.key", "--request", b.refund,
                           "--for-approval", cwd=b.dir))  # fmt: skip
    review = run("discharge", b.analyst, "--key", "approver.key", "--request", b.refund,
                 "--proof", asking, cwd=b.dir)  # fmt: skip
    assert review.returncode == 1
    assert review.stdout == ""
    assert "agents: orchestrator -> analyst" in review.stderr
    assert f"asked by: analyst (key {b.public['analyst']}, signed)" in review.stderr
    assert "pass --yes" in review.stderr
    discharge = only_line(run("discharge", b.analyst, "--key", "approver.key", "--request",
                              b.refund, "--proof", asking, "--yes", cwd=b.dir))  # fmt: skip

    proof = only_line(run("prove", b.analyst, "--key", "analyst.key", "--request", b.refund,
                          cwd=b.dir))  # fmt: skip
    first = run("verify", b.analyst, "--keyring", "ring.json", "--request", b.refund,
                "--proof", proof, "--discharge", discharge, "--state", state, "--json",
                cwd=b.dir)  # fmt: skip
    assert first.returncode == 0, first.stdout
    assert json.loads(first.stdout)["allowed"] is True
    # a later process, a fresh proof, the same approval: spent
    index = next(c["index"] for c in describe(b, b.analyst)["caveats"]
                 if c["type"] == "third_party")  # fmt: skip
    code, doc = decide(b, call, b.analyst, "analyst", b.refund,
                       "--discharge", discharge, "--state", state)  # fmt: skip
    assert code == 1
    assert [(r["code"], r["hop"], r["caveat"]) for r in doc["reasons"]] == [("replay", 0, index)]
    # the same proof again in another process: the proof itself is spent
    again = run("verify", b.analyst, "--keyring", "ring.json", "--request", b.refund,
                "--proof", proof, "--discharge", discharge, "--state", state, "--json",
                cwd=b.dir)  # fmt: skip
    assert again.returncode == 1
    assert [r["code"] for r in json.loads(again.stdout)["reasons"]] == ["replay"]


# Guards against: `discharge --help` naming its argument otherwise than the README's synopsis
# (`delegation discharge TOKEN_OR_CID`), e.g. TICKET_OR_TOKEN. The argument is a token or a
# caveat id (cid); a "ticket" is a different thing in specs/third-party.md (the sealed field 5
# inside a cid).
def test_discharge_help_names_its_argument_as_the_readme_does(call: Runner, tmp_path: Path) -> None:
    synopsis = re.search(r"^delegation discharge (\S+)", README.read_text("utf-8"), re.M)
    assert synopsis is not None
    result = call("discharge", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert synopsis.group(1) in result.stdout
