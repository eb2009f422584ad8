"""``policy.json``: the verifier's policy (step 8a, [policy.md](../../policy.md)). A scripted
policy answers as the vector says and must be shown exactly the input document the vector
pins; the vectors hold where its answer goes among the reasons, that it is asked only about a
call nothing else denies, and that a refusal spends nothing but the proof's nonce."""

from __future__ import annotations

from typing import Any

from delegation import Code, Scope, attenuate, decode
from delegation.caveats import MaxUses, Tool
from delegation.stores import RevocationKind

from gen.fixtures import NOW, READ, TASK, Json, hop, pop, req, root
from gen.render import At, Policy, Reason, Step, VectorFile, policy_result

REVISION = "vec-policy-1"


def document(tok: Any, request: Json, now: int = NOW) -> Json:
    """The input document of [policy.md](../../policy.md) for ``tok`` and ``request``, from
    the token's public description (its agents and caveats by segment) and the spec's rules."""
    described = decode(tok if isinstance(tok, str) else tok.encode()).describe()
    links = described["agents"]
    chain: list[Json] = []
    for depth, link in enumerate(links):
        narrowed = [
            {"caveat": c["index"], "type": c["type"], "value": c["value"]}
            for c in described["caveats"]
            if c["hop"] == depth and c["type"] != "hop"
        ]
        chain.append({**link, "depth": depth, "narrowed": narrowed})
    intents: set[str] | None = None
    for c in chain[0]["narrowed"]:
        if c["type"] == "intent":
            intents = set(c["value"]) if intents is None else intents & set(c["value"])
    expiries = [c["value"]["expires"] for c in described["caveats"] if c["type"] == "validity"]
    holder = {k: v for k, v in chain[-1].items() if k != "narrowed"}
    return {
        "version": 1,
        "task": {
            "id": TASK.task_id,
            "approver": TASK.approved_by,
            "approved_at": TASK.approved_at,
            "statement": TASK.statement,
            "digest": TASK.digest(),
            "intents": None if intents is None else sorted(intents),
        },
        "chain": chain,
        "holder": holder,
        "request": {
            "audience": request["audience"],
            "tool": request["tool"],
            "action": request["action"],
            "resource": request.get("resource"),
            "intent": request.get("intent"),
            "args": request.get("args", {}),
        },
        "approvals": [],
        "context": {
            "time": now,
            "expires": min(expiries),
            "depth": len(links) - 1,
            "token_id": described["token_id"],
            "root_id": described["root_id"],
            "key_id": described["key_id"],
        },
    }


def build() -> VectorFile:
    f = VectorFile(
        "policy.json",
        "The verifier's policy (step 8a): asked only about a call nothing else denies, it can"
        " only deny; a refusal spends nothing but the proof's nonce.",
    )
    r = root("policy")
    one = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"], expires=NOW + 1800))
    once = attenuate(r, Scope(max_uses=1), now=NOW)
    refuse = Policy("deny", REVISION, ["no-reads"], "reads are off today")
    allow = Policy("allow", REVISION, ["base"])

    def refused(*codes: Code) -> list[Reason]:
        return [*codes, Code.POLICY_DENIED]

    f.add(
        "policy_allows",
        "A policy that does not object: the call is allowed and the decision names the"
        " policy's revision and the policies that decided. The document it is shown is pinned.",
        one,
        READ,
        pop(one, "researcher", READ, "policy_allows"),
        chain=["orchestrator", "researcher"],
        policy=Policy("allow", REVISION, ["base"], input=document(one, READ)),
        asked=policy_result(REVISION, ["base"]),
    )
    update = req(tool="crm.update", action="write", intent="update-notes", args={"n": 3})
    f.add(
        "policy_input_of_a_root_call",
        "The document for the root holder's own call: depth 0, no hop id, the arguments as sent.",
        r,
        update,
        pop(r, "orchestrator", update, "policy_input_of_a_root_call"),
        chain=["orchestrator"],
        policy=Policy("allow", REVISION, input=document(r, update)),
        asked=policy_result(REVISION),
    )
    proof = pop(one, "researcher", READ, "policy_denied")
    f.add(
        "policy_denied",
        "A policy that refuses: policy_denied, for the call as a whole, naming the refusing"
        " policy; the proof is still claimed, so shown again it is a replay too.",
        one,
        READ,
        proof,
        codes=refused(),
        policy=Policy(
            "deny", REVISION, ["no-reads"], "reads are off today", input=document(one, READ)
        ),
        asked=policy_result(REVISION, ["no-reads"]),
        then=[Step(READ, proof, codes=refused(Code.REPLAY))],
    )
    f.add(
        "policy_denied_spends_no_use",
        "A single-use token refused by the policy: its use is not counted, so the next call,"
        " which the policy lets through, spends it, and the one after is uses_exhausted.",
        once,
        READ,
        pop(once, "orchestrator", READ, "policy_denied_spends_no_use"),
        codes=refused(),
        policy=refuse,
        asked=policy_result(REVISION, ["no-reads"]),
        then=[
            Step(
                READ,
                pop(once, "orchestrator", READ, "policy_denied_spends_no_use/2"),
                chain=["orchestrator"],
                policy=allow,
                asked=policy_result(REVISION, ["base"]),
            ),
            Step(
                READ,
                pop(once, "orchestrator", READ, "policy_denied_spends_no_use/3"),
                codes=[_first_max_uses(once)],
                policy=allow,
                asked=policy_result(REVISION, ["base"]),
            ),
        ],
    )
    outside = req(tool="crm.update", action="write", intent="update-notes")
    f.add(
        "policy_not_asked_when_a_caveat_denies",
        "A call the token does not allow: the caveats' reasons only, and the policy, which would"
        " refuse it, is not asked (the decision names no policy result).",
        one,
        outside,
        pop(one, "researcher", outside, "policy_not_asked_when_a_caveat_denies"),
        codes=[_tool_caveat(one)],
        policy=refuse,
        asked=None,
    )
    f.add(
        "policy_not_asked_without_a_proof",
        "No proof: pop_required only; the policy is not asked.",
        one,
        READ,
        None,
        codes=[Code.POP_REQUIRED],
        policy=refuse,
        asked=None,
    )
    f.add(
        "policy_denied_after_revoked",
        "A revoked token the policy refuses: revoked first, in step order, then policy_denied.",
        one,
        READ,
        pop(one, "researcher", READ, "policy_denied_after_revoked"),
        codes=[Code.REVOKED, Code.POLICY_DENIED],
        revoked=[(RevocationKind.TASK, TASK.task_id)],
        policy=refuse,
        asked=policy_result(REVISION, ["no-reads"]),
    )
    for reason in ("error", "unparseable", "timeout"):
        f.add(
            f"policy_unavailable_{reason}",
            f"A policy that cannot answer ({reason}): policy_unavailable, never an allow.",
            one,
            READ,
            pop(one, "researcher", READ, f"policy_unavailable_{reason}"),
            codes=[Code.POLICY_UNAVAILABLE],
            policy=Policy("unavailable", REVISION, reason=reason),
            asked=policy_result(REVISION),
        )
    f.add(
        "policy_denied_stateless",
        "A verifier without state and a single-use token the policy refuses: policy_denied,"
        " not state_required (step 9 is not reached).",
        once,
        READ,
        pop(once, "orchestrator", READ, "policy_denied_stateless"),
        codes=refused(),
        stateless=True,
        policy=refuse,
        asked=policy_result(REVISION, ["no-reads"]),
    )
    f.add(
        "policy_allows_stateless_state_required",
        "A verifier without state and a single-use token the policy lets through:"
        " state_required at the max_uses caveat, as without a policy.",
        once,
        READ,
        pop(once, "orchestrator", READ, "policy_allows_stateless_state_required"),
        codes=[_first_max_uses(once, Code.STATE_REQUIRED)],
        stateless=True,
        policy=allow,
        asked=policy_result(REVISION, ["base"]),
    )
    return f


def _first_max_uses(tok: Any, code: Code = Code.USES_EXHAUSTED) -> Reason:
    return At(code, family=MaxUses.type_id)


def _tool_caveat(tok: Any) -> Reason:
    return At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id, nth=-1)  # the hop's, not the root's
