"""Building tokens and proofs the public API refuses to build. TEST-ONLY.

Each helper does what one kind of party can do: any holder can extend the HMAC chain with
arbitrary caveat bytes (``append_raw``); only an issuer with the root key can sign an arbitrary
identifier (``issue_raw``); anyone can frame bytes that are not a token at all (``frame``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from delegation import AgentKey, Code, Request, UnverifiedToken, _cbor, _crypto, _wire
from delegation._proof import Proof
from delegation._task import Agent, TaskRecord
from delegation._token import Identifier
from delegation.caveats import Caveat, CheckContext, Hop, ParentView
from delegation.caveats.registry import Placed
from delegation.errors import CaveatFailed, MalformedToken
from delegation.testing.fixtures import NOW

TEST_NONCE = bytes(range(0x10, 0x20))
"""A distinctive identifier nonce, easy to find inside a token's bytes."""


def append_raw(token: UnverifiedToken, *cids: bytes) -> UnverifiedToken:
    """What any holder can do: append caveat bytes and extend the chain signature."""
    sig = token.raw.signature
    raws = list(token.raw.caveats)
    for cid in cids:
        raw = _wire.RawCaveat(cid)
        raws.append(raw)
        sig = _crypto.chain_step(sig, raw)
    mac = _wire.RawMacaroon(token.raw.identifier, tuple(raws), sig, token.raw.location)
    return UnverifiedToken(mac)


def frame(
    identifier: bytes,
    cids: Sequence[bytes] = (),
    *,
    root_key: bytes | None = None,
    location: str | None = None,
) -> str:
    """The text form of a token with these exact bytes, signed with ``root_key`` if given."""
    raws = tuple(_wire.RawCaveat(c) for c in cids)
    sig = b"\x00" * 32 if root_key is None else _crypto.chain_signature(root_key, identifier, raws)
    return _wire.b64encode(_wire.encode(_wire.RawMacaroon(identifier, raws, sig, location)))


def identifier(
    key_id: str = "test-k1",
    *,
    holder: AgentKey,
    agent_id: str = "orchestrator",
    task: TaskRecord | None = None,
    nonce: bytes = TEST_NONCE,
) -> bytes:
    """An identifier with any key id (the Identifier type does not validate on construction)."""
    task = task or TaskRecord(
        task_id="task-42",
        approved_by="alice@example.com",
        approved_at=NOW - 60,
        statement="statement",
    )
    return Identifier(key_id, nonce, task, Agent(agent_id, holder.public_key)).encode()


def chain_digest(token: UnverifiedToken) -> bytes:
    digest = _crypto.digest_start(token.raw.identifier)
    for raw in token.raw.caveats:
        digest = _crypto.digest_step(digest, raw)
    return digest


def signed_hop(token: UnverifiedToken, signer: AgentKey, agent_id: str, to: AgentKey) -> Hop:
    """A hop after ``token`` signed by ``signer``, whoever that is."""
    message = _crypto.hop_message(chain_digest(token), agent_id, to.public_key)
    return Hop(agent_id, to.public_key, signer.sign(message))


def proof_by(
    token: UnverifiedToken,
    key: AgentKey,
    request: Request,
    *,
    issued_at: int = NOW,
    nonce: bytes = b"\x42" * 16,
    domain: bytes = _crypto.POP_DOMAIN,
) -> str:
    """A proof signed by ``key`` whether or not it holds ``token`` (``prove`` refuses that);
    with ``domain=_crypto.ASK_DOMAIN``, an approval request (``prove_for_approval``)."""
    unsigned = Proof(issued_at, nonce, b"")
    signature = key.sign(unsigned.message(token.token_bytes, request, domain))
    return Proof(issued_at, nonce, signature).encode()


def bind_anyway(token: UnverifiedToken, discharge: str) -> str:
    """What any holder can do with a discharge it has: bind it to ``token`` whatever the
    discharge says (``bind_discharge`` refuses an approval given to another chain)."""
    raw = _wire.decode(_wire.b64decode(discharge, 100_000))
    bound = _crypto.bind(token.raw.signature, raw.signature)
    return _wire.b64encode(
        _wire.encode(_wire.RawMacaroon(raw.identifier, raw.caveats, bound, raw.location))
    )


def cbor_text_header(length: int) -> bytes:
    """The CBOR header of a text string of ``length`` bytes (for hand-made invalid UTF-8)."""
    return _cbor.dumps("x" * length)[:-length]


DEFAULT_REQUEST = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://accounts/42/notes",
    intent="summarise",
)


def context(
    request: Request = DEFAULT_REQUEST,
    *,
    now: int = NOW,
    hops_before: int = 0,
    later: tuple[str, ...] = (),
    holder_key: bytes = b"\x00" * 32,
    prefix_digests: tuple[bytes, ...] = (),
) -> CheckContext:
    return CheckContext(request, now, hops_before, later, holder_key, prefix_digests)


def parent_of(*caveats: Caveat) -> ParentView:
    """The view ``attenuate`` gives a new caveat of a token holding ``caveats``."""
    placed = []
    hops = 0
    for cav in caveats:
        placed.append(Placed(hops, cav))
        hops += isinstance(cav, Hop)
    return ParentView(tuple(placed), hops)


def caveat_bytes(type_id: int, body_hex: str) -> bytes:
    """``[type_id, body]`` with a hand-written (possibly invalid) CBOR body."""
    return _cbor.dumps([type_id, 0])[:-1] + bytes.fromhex(body_hex)


def check_failure(caveat: Caveat, ctx: CheckContext) -> Code:
    """The code of the CaveatFailed that ``caveat.check`` raises."""
    try:
        caveat.check(ctx)
    except CaveatFailed as failed:
        return failed.code
    raise AssertionError(f"{caveat!r} did not fail")


def assert_one_pass_read_matches_constructor(family: type[Any], body: list[object]) -> None:
    """``family.from_body`` skips the constructor: it must accept exactly the canonical (sorted,
    distinct) bodies the constructor accepts, and build the same caveat."""
    built: Caveat | None
    try:
        built = family(tuple(body))
    except MalformedToken:
        built = None
    canonical = built is not None and built.to_body() == body
    try:
        read = family.from_body(body)
    except MalformedToken:
        assert not canonical
    else:
        assert canonical
        assert read == built
        assert built is not None
        assert read.encode() == built.encode()
