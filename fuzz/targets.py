"""The five fuzz targets and their seeds. Plain Python: ``fuzz/run.py`` drives them with
atheris, ``tests/fuzz/test_targets.py`` runs them on their seeds.

A target takes the fuzzer's bytes and returns normally when the library behaved: it answered
with a typed error (:class:`delegation.TokenError`, ``MalformedRequest``, ...) or a
:class:`delegation.Decision`. It raises, and the fuzzer records a crash, when the library
raised anything else, when a decision carries ``internal_error`` (the verifier's catch-all hid
a bug), or when an oracle fails: an input that is not the vector's own was allowed, a holder's
appended caveat widened a token, an accepted text had a second spelling.

Most targets read their first two bytes as the index of a vector case (modulo the number of
cases) and the third as a mode; the rest is the payload. Seeds are the vectors themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

from delegation import (
    AgentKey,
    ApproverKey,
    AuthoringError,
    Code,
    Decision,
    Keyring,
    MalformedRequest,
    MisuseError,
    Request,
    TokenError,
    UnverifiedToken,
    Verifier,
    bind_discharge,
    decode,
)
from delegation._proof import Proof, check_approval_request
from delegation._thirdparty.approval import Approver
from delegation._wire import RawMacaroon, b64encode
from delegation._wire import decode as decode_frame
from delegation._wire import encode as encode_frame
from delegation.stores import MemoryState
from delegation.testing.hostile import append_raw_caveats
from fuzz.vectors import (
    Case,
    agent_keys,
    approval_requests,
    approver_keys,
    cases,
    raw_token,
    request_documents,
)

__all__ = ["TARGETS", "Crash", "Target"]


class Crash(AssertionError):
    """An oracle failed: the library answered, but wrongly."""


NONCE = b"\x00" * 16


def _header(index: int, mode: int) -> bytes:
    return index.to_bytes(2, "big") + bytes([mode])


def _split(data: bytes, pool: Sequence[Case]) -> tuple[Case, int, bytes] | None:
    if len(data) < 3 or not pool:
        return None
    return pool[int.from_bytes(data[:2], "big") % len(pool)], data[2], data[3:]


def _text(payload: bytes) -> str:
    """Bytes as text one to one (latin-1), so every byte string is some token text."""
    return payload.decode("latin-1")


def typed(decision: object) -> Decision:
    """``decision`` is a Decision whose codes are all reason codes, none ``internal_error``."""
    if not isinstance(decision, Decision):
        raise Crash(f"the verifier returned {type(decision).__name__}, not a Decision")
    if bool(decision) is not decision.allowed or decision.allowed == bool(decision.reasons):
        raise Crash("a decision is allowed exactly when it has no reasons")
    for reason in decision.reasons:
        if not isinstance(reason.code, Code):
            raise Crash(f"{reason.code!r} is not a reason code")
        if reason.code is Code.INTERNAL_ERROR:
            raise Crash(f"internal_error: {reason.detail}")
    return decision


@cache
def _stateless(keyring: Keyring) -> Verifier:
    return Verifier(keyring, state=None)


def _stateful(case: Case) -> Verifier:
    """A verifier with fresh state at the case's time: approvals can be spent, once."""
    return Verifier(case.keyring, state=MemoryState(), clock=lambda: case.now)


def _unlocated(text: str) -> bytes | None:
    """A token or discharge's bytes without its location (a hint outside every MAC)."""
    try:
        tok = decode(text)
    except TokenError:
        return None
    raw = tok.raw
    return encode_frame(RawMacaroon(raw.identifier, raw.caveats, raw.signature, None))


def _siblings(case: Case) -> tuple[Case, ...]:
    """Every case with the same token and call: their inputs are the holder's own too (one
    vector's approval request, proof or discharge is genuine for another of the same call)."""
    return _by_call().get((case.token, case.request.digest()), (case,))


@cache
def _by_call() -> dict[tuple[str, bytes], tuple[Case, ...]]:
    out: dict[tuple[str, bytes], list[Case]] = {}
    for case in cases():
        out.setdefault((case.token, case.request.digest()), []).append(case)
    return {key: tuple(found) for key, found in out.items()}


# -- token: the decoder ------------------------------------------------------------------------


def token(data: bytes) -> None:
    """Decode ``data`` as token text (first byte even) or as the binary form (odd), read
    everything an unverified token offers, and hold its one spelling."""
    if not data:
        return
    text = _text(data[1:]) if data[0] % 2 == 0 else b64encode(data[1:])
    try:
        tok = decode(text)
    except TokenError:
        return
    if tok.encode() != text:
        raise Crash("an accepted token text is not the token's own spelling")
    if encode_frame(tok.raw) != tok.token_bytes or decode_frame(tok.token_bytes) != tok.raw:
        raise Crash("the framing of an accepted token has a second spelling")
    _ = tok.token_id, tok.root_id, tok.task, tok.identifier.key_id
    try:
        tok.unsafe_caveats()
        tok.agents()
        json.dumps(tok.describe())
    except TokenError:
        return


def token_seeds() -> Iterator[bytes]:
    seen: set[str] = set()
    for case in cases():
        if case.token in seen:
            continue
        seen.add(case.token)
        yield b"\x00" + case.token.encode("latin-1", "replace")
        binary = raw_token(case.token)
        if binary is not None:
            yield b"\x01" + binary


# -- verify: the verifier ----------------------------------------------------------------------


@cache
def _verify_pool() -> tuple[Case, ...]:
    return cases()


def verify(data: bytes) -> None:
    """Mode 0: the payload is the token text, with the case's request, proof and discharges;
    only the case's own token may be allowed. Mode 1: the case's holder appends the payload as
    one caveat (a valid MAC) and signs the call; the child must not be allowed when the parent
    is denied."""
    split = _split(data, _verify_pool())
    if split is None:
        return
    case, mode, payload = split
    verifier = _stateless(case.keyring)
    if mode % 2 == 0:
        text = _text(payload)
        decision = typed(
            verifier.verify_at(
                text, case.request, case.proof, discharges=case.discharges, at=case.now
            )
        )
        if decision.allowed and text != case.token:
            raise Crash("a token that is not the vector's own was allowed")
        return
    try:
        parent = decode(case.token)
        holder = parent.holder
    except TokenError:
        return
    key = agent_keys().get(holder.public_key)
    if key is None:
        return
    try:
        child = append_raw_caveats(parent, [payload])
    except TokenError:
        return  # the framing refuses it (over a limit): the holder cannot send it
    before = typed(
        verifier.verify_at(
            parent,
            case.request,
            _sign(parent, key, case.request, case.now),
            discharges=case.discharges,
            at=case.now,
        )
    )
    after = typed(
        verifier.verify_at(
            child.encode(),
            case.request,
            _sign(child, key, case.request, case.now),
            discharges=case.discharges,
            at=case.now,
        )
    )
    if after.allowed and not before.allowed:
        raise Crash("appending a caveat widened a token")


def _sign(tok: UnverifiedToken, key: AgentKey, call: Request, now: int) -> str:
    """A proof of ``call`` by ``key`` over ``tok``, whoever its holder is."""
    unsigned = Proof(now, NONCE, b"")
    return Proof(now, NONCE, key.sign(unsigned.message(tok.token_bytes, call))).encode()


def verify_seeds() -> Iterator[bytes]:
    for index, case in enumerate(_verify_pool()):
        yield _header(index, 0) + case.token.encode("latin-1", "replace")
    for index, case in enumerate(_verify_pool()):
        if case.allowed:
            for cid in _sample_caveats():
                yield _header(index, 1) + cid


@cache
def _sample_caveats() -> tuple[bytes, ...]:
    """One caveat id of each family the vectors use, from their tokens."""
    by_type: dict[int, bytes] = {}
    for case in cases():
        try:
            raws = decode(case.token).raw.caveats
        except TokenError:
            continue
        for raw in raws:
            if raw.vid is None and len(raw.cid) > 1 and raw.cid[0] == 0x82:
                by_type.setdefault(raw.cid[1], raw.cid)
    return tuple(by_type.values())


# -- request: the request parser ---------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique, as the command line reads request files."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _DuplicateKey(key)
        doc[key] = value
    return doc


def request(data: bytes) -> None:
    """Read ``data`` as a JSON request file the way ``delegation verify --request`` does, or
    (first byte 0) as NUL-separated field values (audience, tool, action, resource, intent,
    then argument names and text values), and build the Request; an accepted one round-trips
    through its JSON form to the same digest."""
    if data[:1] == b"\x00":
        built = _request_from_fields(data[1:])
        if built is None:
            return
    else:
        try:
            doc = json.loads(data.decode("utf-8"), object_pairs_hook=_unique)
        except (ValueError, RecursionError):  # not JSON (or too deep for json): never reaches us
            return
        try:
            built = Request.from_json(doc)
        except MalformedRequest:
            return
    digest = built.digest()
    text = json.dumps(built.to_json(), allow_nan=False)
    again = Request.from_json(json.loads(text))
    if again.digest() != digest:
        raise Crash("a request's JSON form reads back as another call")


def _request_from_fields(data: bytes) -> Request | None:
    try:
        parts = [p.decode("utf-8", "surrogatepass") for p in data.split(b"\x00")]
    except UnicodeDecodeError:  # a request's texts are Unicode; bytes never reach it
        return None
    if len(parts) < 3:
        return None
    audience, tool, action, *rest = parts
    resource = rest[0] if rest and rest[0] else None
    intent = rest[1] if len(rest) > 1 and rest[1] else None
    pairs = rest[2:]
    args: dict[str, Any] = {}
    for name, value in zip(pairs[::2], pairs[1::2], strict=False):
        args[name] = int(value) if value.isdigit() and len(value) < 30 else value
    try:
        return Request(
            audience=audience, tool=tool, action=action, resource=resource, intent=intent, args=args
        )
    except MalformedRequest:
        return None


def _fields(request: Request) -> bytes:
    values = [request.audience, request.tool, request.action, request.resource or "",
              request.intent or ""]  # fmt: skip
    for name, value in request.args.items():
        values += [name, str(value)]
    return b"\x00" + b"\x00".join(v.encode("utf-8", "surrogatepass") for v in values)


def request_seeds() -> Iterator[bytes]:
    for doc in request_documents():
        yield doc.encode("utf-8", "surrogatepass")
    seen: set[bytes] = set()
    for case in cases():
        for data in (json.dumps(case.request.to_json()).encode(), _fields(case.request)):
            if data not in seen:
                seen.add(data)
                yield data


# -- discharge: discharges, binding and the approver -------------------------------------------


@cache
def _discharge_pool() -> tuple[Case, ...]:
    return tuple(c for c in cases() if c.discharges or c.approval_proof or c.file == "thirdparty")


@cache
def _approvers() -> tuple[Approver, ...]:
    keys: dict[str, ApproverKey] = approver_keys()
    return tuple(Approver(key) for key in keys.values())


def _same_discharges(given: Sequence[str], expected: Sequence[str]) -> bool:
    return sorted(map(repr, map(_unlocated, given))) == sorted(map(repr, map(_unlocated, expected)))


def discharge(data: bytes) -> None:
    """Mode 0: the payload is the discharges (comma-separated) sent with the case's call; an
    allow needs the case's own discharges. Mode 1: the payload is an unbound discharge the
    holder binds to the token; an allow needs it to be the case's only discharge. Mode 2: the
    payload is the holder's signed approval request, shown to each approver; only the case's
    own may be accepted, and what the approver then signs is verified."""
    split = _split(data, _discharge_pool())
    if split is None:
        return
    case, mode, payload = split
    mode %= 3
    if mode == 0:
        given = _text(payload).split(",")
        decision = typed(
            _stateful(case).verify(case.token, case.request, case.proof, discharges=given)
        )
        if decision.allowed and not any(
            _same_discharges(given, c.discharges) for c in _siblings(case)
        ):
            raise Crash("discharges that are not the vector's own were allowed")
        return
    if mode == 1:
        try:
            bound = bind_discharge(case.token, _text(payload))
        except (TokenError, AuthoringError, MisuseError):
            return
        decision = typed(
            _stateful(case).verify(case.token, case.request, case.proof, discharges=[bound])
        )
        if decision.allowed and not any(
            _same_discharges([bound], c.discharges) for c in _siblings(case)
        ):
            raise Crash("a discharge that is not the vector's own was allowed")
        return
    proof = _text(payload)
    for approver in _approvers():
        try:
            pending = approver.pending(case.token, case.request, proof, now=case.now)
        except (TokenError, MisuseError):
            continue
        genuine = approval_requests().get((case.token, case.request.digest()), frozenset())
        if pending and proof not in genuine | {c.approval_proof for c in _siblings(case)}:
            raise Crash("an approval request that is not the holder's was accepted")
        for asked in pending:
            approval = approver._approve(asked, case.now, 300, b"\x01" * 16)
            try:
                bound = bind_discharge(case.token, approval)
            except (TokenError, AuthoringError):
                continue
            typed(_stateful(case).verify(case.token, case.request, case.proof, discharges=[bound]))


def discharge_seeds() -> Iterator[bytes]:
    for index, case in enumerate(_discharge_pool()):
        yield _header(index, 0) + ",".join(case.discharges).encode("latin-1", "replace")
        if case.approval_proof:
            yield _header(index, 2) + case.approval_proof.encode()
    for approval in _unbound_approvals():
        index, text = approval
        yield _header(index, 1) + text.encode()


@cache
def _unbound_approvals() -> tuple[tuple[int, str], ...]:
    """Discharges the approvers sign for the vectors' approval requests, not yet bound."""
    out: list[tuple[int, str]] = []
    for index, case in enumerate(_discharge_pool()):
        if not case.approval_proof:
            continue
        for approver in _approvers():
            try:
                pending = approver.pending(
                    case.token, case.request, case.approval_proof, now=case.now
                )
            except (TokenError, MisuseError):
                continue
            out += [(index, approver._approve(p, case.now, 300, b"\x01" * 16)) for p in pending]
    return tuple(out)


# -- proof: the proof reader -------------------------------------------------------------------


@cache
def _proof_pool() -> tuple[Case, ...]:
    return tuple(c for c in cases() if c.proof is not None or c.approval_proof is not None)


def proof(data: bytes) -> None:
    """Mode 0: the payload is the proof of the case's call; it parses to one spelling or is
    refused, and only the case's own proof may be allowed. Mode 1: it is an approval request
    for that call; only the case's own approval request may pass the approver's check."""
    split = _split(data, _proof_pool())
    if split is None:
        return
    case, mode, payload = split
    text = _text(payload)
    if mode % 2 == 0:
        try:
            parsed = Proof.decode(text)
        except TokenError:
            pass
        else:
            if parsed.encode() != text:
                raise Crash("an accepted proof text is not the proof's own spelling")
        decision = typed(
            _stateless(case.keyring).verify_at(
                case.token, case.request, text, discharges=case.discharges, at=case.now
            )
        )
        if decision.allowed and text not in {c.proof for c in _siblings(case)}:
            raise Crash("a proof that is not the vector's own was allowed")
        return
    try:
        tok = decode(case.token)
    except TokenError:
        return
    try:
        check_approval_request(tok, case.request, text, case.now)
    except TokenError:
        return
    if text not in {c.approval_proof for c in _siblings(case)}:
        raise Crash("an approval request that is not the holder's own was accepted")


def proof_seeds() -> Iterator[bytes]:
    for index, case in enumerate(_proof_pool()):
        if case.proof is not None:
            yield _header(index, 0) + case.proof.encode("latin-1", "replace")
        if case.approval_proof is not None:
            yield _header(index, 1) + case.approval_proof.encode()
            yield _header(index, 0) + case.approval_proof.encode()


Target = tuple[Callable[[bytes], None], Callable[[], Iterator[bytes]]]

TARGETS: dict[str, Target] = {
    "token": (token, token_seeds),
    "verify": (verify, verify_seeds),
    "request": (request, request_seeds),
    "discharge": (discharge, discharge_seeds),
    "proof": (proof, proof_seeds),
}
"""Each harness by name: its target and its seeds."""
