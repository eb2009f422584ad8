"""Our columns: the holder-bound ``Verifier.verify`` and the bearer chain check, cold and warm;
the cache memory per entry; the bodies ``--profile`` runs.

Keys are fixed benchmark fixtures or made afresh here, never real keys.
"""

from __future__ import annotations

import gc
import hmac
import itertools
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workload import (
    HOP_RESOURCE,
    HOP_TOOL,
    NARROWING_PER_HOP,
    NOW,
    ROOT_ACTIONS,
    ROOT_RESOURCE,
    ROOT_TOOLS,
    TTL,
    Call,
    System,
    hop_expiry,
)

from delegation import (
    Agent,
    AgentKey,
    Budget,
    Keyring,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    attenuate,
    delegate,
)
from delegation import _patterns as patterns
from delegation import _request as request_module
from delegation import _token as _token_module
from delegation._crypto import ed25519
from delegation._memo import Memo
from delegation._proof import _prove
from delegation._token import _mint
from delegation._verifier import _request, entry_cost
from delegation.caveats import Caveat, ResourceCaveat, Tool, Validity
from delegation.errors import Denied, TokenError
from delegation.limits import MAX_RESOURCE_CHARS, MAX_TEXT_CHARS
from delegation.testing import fixtures

ROOT_SECRET = fixtures.root_secret(1)  # a TEST FIXTURE: publicly known, benchmarks only
_nonces = itertools.count(1)  # every token and proof of the run gets its own nonce


def keyring() -> Keyring:
    return fixtures.keyring(fixtures.root_key(1, key_id="bench-k1", created=NOW))


def request(call: Call) -> Request:
    return Request(
        audience=call.audience, tool=call.tool, action=call.action, resource=call.resource
    )


def _nonce() -> bytes:
    return next(_nonces).to_bytes(16, "big")


BUDGET = Budget("calls", 2**53 - 1, 1)
"""The budget the "with a budget" column's token ends with: a fixed cost of 1 per call, a total
no run reaches, so every timed call is charged and allowed."""


def build_token(
    ring: Keyring, depth: int, keys: Sequence[AgentKey], tail: Sequence[Caveat] = ()
) -> tuple[UnverifiedToken, AgentKey]:
    """The workload's token: the root grant (5 caveats) for ``keys[0]``, then ``depth`` hops,
    hop i to ``keys[i + 1]`` followed by its 3 narrowing caveats, then ``tail``. Returns it and
    its holder."""
    task = TaskRecord(
        task_id="task-42",
        approved_by="alice@example.com",
        approved_at=NOW - 60,
        statement="Summarise account 42's notes",
    )
    scope = Scope(
        audiences=["crm"],
        tools=list(ROOT_TOOLS),
        actions=list(ROOT_ACTIONS),
        resources=[ROOT_RESOURCE],
        expires=NOW + TTL,
    )
    holder = Agent("orchestrator", keys[0].public_key)
    token = _mint(ring, task, holder, scope, now=NOW, nonce=_nonce(), location=None)
    for i in range(depth):
        token = delegate(token, keys[i], Agent(f"agent-{i + 1}", keys[i + 1].public_key), now=NOW)
        narrower: list[Caveat] = [
            Validity(None, hop_expiry(NOW + TTL, i)),
            Tool((HOP_TOOL,)),
            ResourceCaveat((HOP_RESOURCE,)),
        ]
        token = attenuate(token, narrower[:NARROWING_PER_HOP], now=NOW)
    if tail:
        token = attenuate(token, list(tail), now=NOW)
    return token, keys[depth]


def fixture_keys(depth: int) -> list[AgentKey]:
    return [fixtures.agent_key(1)] + [fixtures.agent_key(10 + i) for i in range(depth)]


def new_keys(depth: int) -> list[AgentKey]:
    return [AgentKey.generate() for _ in range(depth + 1)]


def forget_first_sight() -> None:
    """Empty the process-wide memos that building tokens filled with the new agent keys and
    identifiers (key screening, identifier parse), so the cold verifies see them for the first
    time. A fresh Verifier brings its own registry, so its caveat-parse memo starts empty too.
    Left warm: the resource-pattern parse (``_patterns.parse_resource``), keyed by pattern text
    that recurs across tokens as it would in service."""
    ed25519.is_safe_public_key.cache_clear()
    _token_module._IDENTIFIERS.clear()


class OurTokens:
    """The workload's token at one depth (fixture keys), its verifier, and new tokens."""

    tail: tuple[Caveat, ...] = ()
    """Caveats appended to the workload's token (none: the workload exactly)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.keyring = keyring()
        self.state = MemoryState(max_entries=10_000_000)  # never fills in a run
        self.token, self.holder = build_token(self.keyring, depth, fixture_keys(depth), self.tail)
        self.text = self.token.encode()
        self.verifier = self.new_verifier()

    def new_verifier(self) -> Verifier:
        return Verifier(self.keyring, state=self.state, clock=lambda: NOW)

    def new_tokens(self, n: int) -> list[tuple[UnverifiedToken, AgentKey]]:
        tokens = [
            build_token(self.keyring, self.depth, new_keys(self.depth), self.tail) for _ in range(n)
        ]
        forget_first_sight()
        return tokens

    def floor_messages(self) -> tuple[bytes, list[bytes]]:
        """The HMAC floor's inputs: the derived root key and the identifier and caveat bytes."""
        raw = self.token.raw
        derived = hmac.digest(b"macaroons-key-generator", ROOT_SECRET, "sha256")
        return derived, [raw.identifier, *(c.cid for c in raw.caveats)]


HolderItem = tuple[Verifier, str, str, Request]


def holder_bound_verify(item: HolderItem) -> bool:
    """The full public ``Verifier.verify(token, request, proof)``: steps 1-9."""
    verifier, text, proof, req = item
    return verifier.verify(text, req, proof).allowed


class HolderBound(OurTokens, System[HolderItem]):
    """``Verifier.verify`` with a fresh proof per call and a MemoryState (revocations, nonces,
    uses: asked once per verify). Cold: a new token from new agent keys in a fresh verifier.
    Warm: the token this verifier has verified before (its chain cache answers steps 1-5)."""

    name = "ours"
    signatures = ("D + 1", "1 (the proof; the hops are cached)")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        if not holder_bound_verify(self.warm_inputs(1, Call())[0]):  # now it has seen the token
            raise AssertionError("the warm verifier denied its first call")

    def cold_inputs(self, n: int, call: Call) -> list[HolderItem]:
        req = request(call)
        return [
            (
                self.new_verifier(),
                token.encode(),
                _prove(token, holder, req, now=NOW, nonce=_nonce()),
                req,
            )
            for token, holder in self.new_tokens(n)
        ]

    def warm_inputs(self, n: int, call: Call) -> list[HolderItem]:
        req = request(call)
        return [
            (
                self.verifier,
                self.text,
                _prove(self.token, self.holder, req, now=NOW, nonce=_nonce()),
                req,
            )
            for _ in range(n)
        ]

    def cold(self, item: HolderItem) -> bool:
        return holder_bound_verify(item)

    def warm(self, item: HolderItem) -> bool:
        return holder_bound_verify(item)


class LongLived(HolderBound):
    """Not a target: a new token from new agent keys, verified by a verifier that has verified
    other tokens before (the service's case). Its caveat-parse memo knows the caveats that
    recur across tokens; nothing of this token's hops or keys is cached."""

    name = "ours long-lived verifier"

    def cold_inputs(self, n: int, call: Call) -> list[HolderItem]:
        made = super().cold_inputs(n, call)
        return [(self.verifier, text, proof, req) for _, text, proof, req in made]


class WithBudget(HolderBound):
    """Not a target: the workload's token with a budget caveat at its end, so every allowed
    call is also charged in the state (step 9): the cost of a budget, beside ``ours``."""

    name = "ours with a budget"
    signatures = ("D + 1", "1 (the proof)")
    tail = (BUDGET,)


BearerItem = tuple[Verifier, str, Request]


def bearer_check(item: BearerItem) -> bool:
    """Steps 1-5 and the caveat checks, without proof or state: ``Verifier.check_chain(text)``
    (framing, key lookup, HMAC chain, caveat parse, hop signatures and holder continuity, or
    the chain cache's answer for a token seen before), then ``_request.check_caveats`` (every
    caveat against the request)."""
    verifier, text, req = item
    try:
        chain = verifier.check_chain(text)
    except (TokenError, Denied):
        return False
    return not _request.check_caveats(chain, req, NOW)


class Bearer(OurTokens, System[BearerItem]):
    """The chain check a bearer macaroon gets, on our token. Cold: a new token from new agent
    keys in a fresh verifier (its D hop signatures and D + 1 key screenings are checked).
    Warm: the token this verifier has checked before."""

    name = "ours bearer"
    signatures = ("D (the hops)", "0 (cached)")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        if not bearer_check(self.warm_inputs(1, Call())[0]):
            raise AssertionError("the warm verifier denied its first call")

    def cold_inputs(self, n: int, call: Call) -> list[BearerItem]:
        req = request(call)
        return [(self.new_verifier(), token.encode(), req) for token, _ in self.new_tokens(n)]

    def warm_inputs(self, n: int, call: Call) -> list[BearerItem]:
        return [(self.verifier, self.text, request(call))] * n

    def cold(self, item: BearerItem) -> bool:
        return bearer_check(item)

    def warm(self, item: BearerItem) -> bool:
        return bearer_check(item)


# --- cache memory ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheMemory:
    """Bytes one entry of each of a verifier's caches keeps alive at one depth: what emptying
    the cache frees (tracemalloc), with every other cache of that verifier emptied or off, so
    that the entry's parts are counted with it."""

    depth: int
    tokens: int
    token_chars: int
    chain_entry: float
    """One verified chain (``Verifier._chains``), its key text included."""
    hop_entry: float
    """One hop-signature check (``Verifier._hop_cache``)."""
    parse_entry: float
    """One parsed caveat in the verifier's registry memo (bounded at 4096 entries)."""
    default_chain_entries: int
    """How many such tokens the default chain cache holds (1024 entries, 32 MiB charged)."""
    charged: int
    """What the verifier charges one such entry against ``chain_cache_bytes`` (``entry_cost``)."""


def _traced_bytes() -> int:
    gc.collect()
    return sum(stat.size for stat in tracemalloc.take_snapshot().statistics("filename"))


def _freed_per_entry(cache: dict[Any, Any] | Memo[Any, Any]) -> float:
    entries = len(cache)
    before = _traced_bytes()
    cache.clear()
    return (before - _traced_bytes()) / max(entries, 1)


def cache_memory(depth: int, n: int) -> CacheMemory:
    """Fill a verifier's caches with ``n`` distinct tokens at ``depth`` (steps 1-5 each) and
    measure what emptying each cache frees. The tokens differ in their root nonce, so every
    hop signature and chain digest differs; agent keys are fixtures (memory does not depend on
    them)."""
    tokens = OurTokens(depth)
    texts = [build_token(tokens.keyring, depth, fixture_keys(depth))[0].encode() for _ in range(n)]
    size = max(len(t) for t in texts)

    def filled(hops: int, chains: int) -> Verifier:
        verifier = Verifier(
            tokens.keyring,
            state=None,
            hop_cache_size=hops,
            chain_cache_size=chains,
            chain_cache_bytes=2**40,
        )
        for text in texts:
            verifier.check_chain(text.encode().decode())  # a copy made while tracing: counted
        verifier._registry._cache.clear()  # it holds the caveats the entries hold
        _token_module._IDENTIFIERS.clear()  # it holds the parsed identifiers
        return verifier

    tracemalloc.start()
    try:
        chains = filled(hops=0, chains=n + 1)
        chain_entry = _freed_per_entry(chains._chains)
        del chains
        hops = filled(hops=n * depth + 1, chains=0)
        hop_entry = _freed_per_entry(hops._hop_cache)
        del hops
        parsed = Verifier(tokens.keyring, state=None, hop_cache_size=0, chain_cache_size=0)
        for text in texts:
            parsed.check_chain(text)
        parse_entry = _freed_per_entry(parsed._registry._cache)
    finally:
        tracemalloc.stop()
    probe = Verifier(tokens.keyring, state=None)
    charged = max(entry_cost(t, probe.check_chain(t)) for t in texts)
    return CacheMemory(
        depth,
        n,
        size,
        chain_entry,
        hop_entry,
        parse_entry,
        min(1024, (32 * 1024 * 1024) // charged),
        charged,
    )


@dataclass(frozen=True)
class MemoMemory:
    """One process-wide (or per-registry) memo: its bounds, and the bytes an entry keeps alive
    for the workload's inputs and for the largest input it takes."""

    name: str
    entries: int
    """At most this many entries."""
    input_limit: str
    """What else bounds it (the input size it keeps, or none beyond entries)."""
    typical: float
    largest: float
    most_entries_largest: int
    """How many of the largest entries fit its bounds."""

    @property
    def bound_bytes(self) -> float:
        return self.most_entries_largest * self.largest


def _memo_bytes(fill: Callable[[], int], clear: Callable[[], None]) -> float:
    """Bytes per entry that ``fill`` (returning how many entries it made) keeps alive."""
    clear()
    tracemalloc.start()
    try:
        before = _traced_bytes()
        made = fill()
        filled = _traced_bytes()
        clear()
    finally:
        tracemalloc.stop()
    return (filled - before) / max(made, 1)


def memo_memory(n: int) -> list[MemoMemory]:
    """The memos that presenters fill, each measured with ``n`` workload-like entries and with
    ``n`` entries of the largest input it keeps (up to its entry bound)."""
    ring = keyring()
    registry = Verifier(ring, state=None)._registry
    big_statement = "s" * MAX_TEXT_CHARS

    def identifier(statement: str) -> bytes:
        """A root token's identifier whose task states ``statement``."""
        task = TaskRecord(
            task_id="task-42",
            approved_by="alice@example.com",
            approved_at=NOW - 60,
            statement=statement,
        )
        holder = Agent("orchestrator", fixtures.agent_key(1).public_key)
        scope = Scope(audiences=["crm"], expires=NOW + TTL)
        return _mint(
            ring, task, holder, scope, now=NOW, nonce=_nonce(), location=None
        ).raw.identifier

    def identifiers(statement: str | None) -> Callable[[], int]:
        if statement is None:  # the workload's own
            raw = [build_token(ring, 0, fixture_keys(0))[0].raw.identifier for _ in range(n)]
        else:
            raw = [identifier(statement) for _ in range(n)]

        def fill() -> int:
            for data in raw:
                _token_module._decode_identifier(bytes(data))  # a copy made while tracing
            return len(_token_module._IDENTIFIERS)

        return fill

    def big_tool(i: int) -> bytes:  # near MAX_CAVEAT_BYTES: 32 names of 60 characters
        return Tool(tuple(f"{i:08d}-{j:02d}-" + "t" * 48 for j in range(32))).encode()

    def caveats(big: bool) -> Callable[[], int]:
        if big:
            cids = [big_tool(i) for i in range(n)]
        else:
            cids = [Tool((f"crm.read.{i}",)).encode() for i in range(n)]

        def fill() -> int:
            for cid in cids:
                registry.decode(bytes(cid))
            return len(registry._cache)

        return fill

    new_keys_ = [AgentKey.generate().public_key for _ in range(n)]

    def keys() -> int:
        for key in new_keys_:
            ed25519.is_safe_public_key(bytes(key))
        return ed25519.is_safe_public_key.cache_info().currsize

    def texts(length: int) -> Callable[[], int]:
        values = [f"{i:08d}".ljust(length, "t") for i in range(n)]

        def fill() -> int:
            for value in values:
                request_module._cbor_text(value[:])
            return len(request_module._TEXTS)

        return fill

    def resources(length: int) -> Callable[[], int]:
        values = ["crm://" + f"{i:08d}".ljust(length - 6, "r") for i in range(n)]

        def fill() -> int:
            for value in values:
                patterns.parse_resource(value[:])
            return len(patterns._RESOURCES)

        return fill

    def count(memo_size: int, charge_limit: int, charge: int) -> int:
        return min(memo_size, charge_limit // max(charge, 1))

    clear_ids = _token_module._IDENTIFIERS.clear
    id_typical = _memo_bytes(identifiers(None), clear_ids)
    id_largest = _memo_bytes(identifiers(big_statement), clear_ids)
    big_id = len(identifier(big_statement))
    ids = _token_module._IDENTIFIERS
    cav_typical = _memo_bytes(caveats(False), registry._cache.clear)
    cav_largest = _memo_bytes(caveats(True), registry._cache.clear)
    big_cav = len(big_tool(0))
    key_bytes = _memo_bytes(keys, ed25519.is_safe_public_key.cache_clear)
    text_typical = _memo_bytes(texts(8), request_module._TEXTS.clear)
    text_largest = _memo_bytes(texts(request_module._TEXT_MEMO_CHARS), request_module._TEXTS.clear)
    screening = ed25519.is_safe_public_key.cache_info().maxsize or 0
    res = patterns._RESOURCES
    res_typical = _memo_bytes(resources(len("crm://accounts/42/notes")), res.clear)
    res_largest = _memo_bytes(resources(MAX_RESOURCE_CHARS), res.clear)
    return [
        MemoMemory(
            "parsed identifiers (process-wide, filled before the MAC check)",
            ids._entries,
            f"{ids._charge_limit:,} identifier bytes",
            id_typical,
            id_largest,
            count(ids._entries, ids._charge_limit, big_id),
        ),
        MemoMemory(
            "parsed caveats (per registry)",
            registry._cache._entries,
            f"{registry._cache._charge_limit:,} caveat bytes",
            cav_typical,
            cav_largest,
            count(registry._cache._entries, registry._cache._charge_limit, big_cav),
        ),
        MemoMemory(
            "key screening (process-wide)",
            screening,
            "keys are 32 bytes",
            key_bytes,
            key_bytes,
            screening,
        ),
        MemoMemory(
            "encoded request texts (process-wide)",
            request_module._TEXTS._entries,
            f"texts of at most {request_module._TEXT_MEMO_CHARS} characters",
            text_typical,
            text_largest,
            request_module._TEXTS._entries,
        ),
        MemoMemory(
            "parsed resources (process-wide; a second memo as large for patterns)",
            res._entries,
            f"{res._charge_limit:,} characters of text",
            res_typical,
            res_largest,
            count(res._entries, res._charge_limit, MAX_RESOURCE_CHARS),
        ),
    ]


# --- profiling ------------------------------------------------------------------------------

PROFILED = ("cold", "warm", "bearer-cold", "bearer-warm")


def profile_body(path: str, depth: int, calls: int) -> Callable[[], None]:
    """``calls`` verifies of one of our paths (``PROFILED``) at ``depth``, inputs made first."""
    if path in ("cold", "warm"):
        holder = HolderBound(depth)
        made = holder.cold_inputs if path == "cold" else holder.warm_inputs
        holder_items = made(calls, Call())

        def holder_body() -> None:
            for item in holder_items:
                holder_bound_verify(item)

        return holder_body
    bearer = Bearer(depth)
    make = bearer.cold_inputs if path == "bearer-cold" else bearer.warm_inputs
    bearer_items = make(calls, Call())

    def bearer_body() -> None:
        for item in bearer_items:
            bearer_check(item)

    return bearer_body
