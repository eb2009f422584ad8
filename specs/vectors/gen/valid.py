"""``valid.json``: allowed calls: the root holder, one hop, three hops, rotation, pattern and
time boundaries."""

from __future__ import annotations

from delegation import ArgConstraint, Keyring, Scope, attenuate
from delegation._keys import RootKey
from delegation.testing.fixtures import root_secret

from gen.fixtures import EXPIRES, NOW, READ, ROOT_KEY_ID, ROOT_SECRET, hop, pop, req, root, scope
from gen.render import VectorFile, keyring_json


def build() -> VectorFile:
    f = VectorFile("valid.json", "Tokens and presentations that must be allowed.")
    r = root("root")
    f.add(
        "root_holder_read",
        "The orchestrator, the root token's holder, reads a note inside the approved scope.",
        r,
        READ,
        pop(r, "orchestrator", READ, "root_holder_read"),
        chain=["orchestrator"],
    )
    update = req(tool="crm.update", action="write", intent="update-notes")
    f.add(
        "root_holder_update",
        "The root holder uses the second tool, action and intent the task approved.",
        r,
        update,
        pop(r, "orchestrator", update, "root_holder_update"),
        chain=["orchestrator"],
    )
    one = hop(
        r,
        "orchestrator",
        "researcher",
        Scope(
            tools=["crm.read"],
            actions=["read"],
            resources=["crm://accounts/42/notes"],
            intents=["summarise"],
            expires=NOW + 1800,
        ),
    )
    f.add(
        "one_hop",
        "The orchestrator delegates a narrower scope to the researcher, who reads the note.",
        one,
        READ,
        pop(one, "researcher", READ, "one_hop"),
        chain=["orchestrator", "researcher"],
    )
    two = hop(one, "researcher", "writer", Scope(expires=NOW + 900))
    three = hop(two, "writer", "summariser", Scope(audiences=["crm"], expires=NOW + 600))
    f.add(
        "three_hops",
        "orchestrator -> researcher -> writer -> summariser, each narrowing; the last one reads.",
        three,
        READ,
        pop(three, "summariser", READ, "three_hops"),
        chain=["orchestrator", "researcher", "writer", "summariser"],
    )
    att = attenuate(r, Scope(tools=["crm.read"], resources=["crm://accounts/42/notes"]), now=NOW)
    f.add(
        "attenuated_without_hop",
        "The root holder narrows its own token offline and still holds it.",
        att,
        READ,
        pop(att, "orchestrator", READ, "attenuated_without_hop"),
        chain=["orchestrator"],
    )
    base = req(resource="crm://accounts/42")
    f.add(
        "double_star_matches_zero_segments",
        "'crm://accounts/42/**' matches the account itself (zero trailing segments).",
        r,
        base,
        pop(r, "orchestrator", base, "double_star_matches_zero_segments"),
        chain=["orchestrator"],
    )
    deep = req(resource="crm://accounts/42/notes/2027/01")
    f.add(
        "double_star_matches_many_segments",
        "'crm://accounts/42/**' matches any number of trailing segments.",
        r,
        deep,
        pop(r, "orchestrator", deep, "double_star_matches_many_segments"),
        chain=["orchestrator"],
    )
    star = root("single-star", scope(resources=["crm://accounts/42/*"]))
    f.add(
        "single_star_matches_one_segment",
        "'crm://accounts/42/*' matches 'crm://accounts/42/notes'.",
        star,
        READ,
        pop(star, "orchestrator", READ, "single_star_matches_one_segment"),
        chain=["orchestrator"],
    )
    f.add(
        "one_second_before_expiry",
        "The expiry is exclusive: one second before it the token still works.",
        r,
        READ,
        pop(r, "orchestrator", READ, "one_second_before_expiry", at=EXPIRES - 1),
        now=EXPIRES - 1,
        chain=["orchestrator"],
    )
    nbf = root("nbf-skew", scope(not_before=NOW + 30))
    f.add(
        "not_before_within_clock_skew",
        "A not-before 30 s ahead of the verifier clock is tolerated (CLOCK_SKEW_SECONDS = 30).",
        nbf,
        READ,
        pop(nbf, "orchestrator", READ, "not_before_within_clock_skew"),
        chain=["orchestrator"],
    )
    old_secret = root_secret("vec-k0")
    old_ring = Keyring([RootKey("vec-k0", old_secret)])
    old = root("rotated", keyring=old_ring)
    f.add(
        "rotated_keyring_old_key_verifies",
        "A token minted under the previous root key verifies after rotation to vec-k1.",
        old,
        READ,
        pop(old, "orchestrator", READ, "rotated_keyring_old_key_verifies"),
        keyring=keyring_json(("vec-k0", old_secret), (ROOT_KEY_ID, ROOT_SECRET)),
        chain=["orchestrator"],
    )
    args = root(
        "args",
        scope(
            args=[
                ArgConstraint.equals("account", 42),
                ArgConstraint.one_of("format", ("md", "txt")),
                ArgConstraint.at_most("limit", 50),
                ArgConstraint.at_least("limit", 1),
                ArgConstraint.resource("path", "crm://accounts/42/**"),
            ]
        ),
    )
    good = req(args={"account": 42, "format": "md", "limit": 50, "path": "crm://accounts/42/n"})
    f.add(
        "args_all_satisfied",
        "Every argument constraint holds (limit at its inclusive maximum); extra args are fine.",
        args,
        {**good, "args": {**good["args"], "extra": "ignored"}},
        pop(args, "orchestrator", {**good, "args": {**good["args"], "extra": "ignored"}}, "args"),
        chain=["orchestrator"],
    )
    return f
