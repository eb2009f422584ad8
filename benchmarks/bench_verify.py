"""Verification benchmarks: ``python benchmarks/bench_verify.py [--quick] [--clock cpu]``.

Measures, side by side in one run, on the workload "D hops x 3 caveats" (D = 1, 4, 16):

- ``floor``: a bare loop of chained ``hmac.digest`` calls, one per caveat plus the identifier;
- ``bearer``: our chain check from the token string without hop signatures or proof (HMAC chain,
  caveat parse, caveat checks), assembled from private pieces because there is deliberately no
  public API for it;
- ``pymacaroons``: ``Macaroon.deserialize`` + ``Verifier.verify`` on the same token, with a
  general checker that accepts every caveat;
- ``warm``: the full ``Verifier.verify(token, request, proof)`` with the hop signatures already
  cached, one fresh proof per call;
- ``authorize``: ``Verifier.authorize`` on a reused VerifiedChain (not a target; what a chain
  cache would leave per request);
- ``ed25519``: one Ed25519 verification with pyca ``cryptography``, the reference for ``warm``.

Prints a markdown table and writes it to ``benchmarks/results/latest.md`` (``--out``). The
targets of issue 2 are reported, never asserted. ``--profile bearer|warm`` runs cProfile on one
path instead and prints the top entries. Keys are fixed benchmark fixtures, never real keys.
"""

from __future__ import annotations

import argparse
import binascii
import cProfile
import datetime
import gc
import hmac
import io
import os
import platform
import pstats
import statistics
import sys
import time
from _hashlib import hmac_digest as _hmac_digest
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pymacaroons
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymacaroons.utils import sign_first_party_caveat

from delegation import (
    Agent,
    AgentKey,
    Keyring,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _crypto,
    attenuate,
    delegate,
)
from delegation._proof import _prove
from delegation._token import _mint
from delegation._verifier import _request
from delegation.caveats import Caveat, ResourceCaveat, Tool, Validity
from delegation.limits import MAX_CAVEATS
from delegation.testing import fixtures

NOW = fixtures.NOW
ROOT_SECRET = fixtures.root_secret(1)  # a TEST FIXTURE: publicly known, benchmarks only
DEPTHS = (1, 4, 16)
NARROWING_PER_HOP = 3
TARGETS = {
    "bearer/floor": ("<=", 2.0),
    "pymacaroons/bearer": (">=", 6.0),
    "warm/ed25519": ("<=", 1.5),
}
REQUEST = Request(
    audience="crm", tool="crm.read", action="read", resource="crm://accounts/42/notes"
)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.md"


# --- the workload -------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    depth: int
    token: UnverifiedToken
    text: str
    holder: AgentKey
    narrowing: int

    @property
    def caveats(self) -> int:
        return len(self.token.raw.caveats)


def build_workload(keyring: Keyring, depth: int) -> Workload:
    """Root scope (5 caveats), then ``depth`` hops each followed by narrowing caveats.

    3 per hop as the issue asks, unless that would pass MAX_CAVEATS: then as many as fit,
    spread over the hops (D = 16 needs 5 + 16 * 4 = 69 > 64 caveats).
    """
    keys = [fixtures.agent_key(1)]
    task = TaskRecord(
        task_id="task-42",
        approved_by="alice@example.com",
        approved_at=NOW - 60,
        statement="Summarise account 42's notes",
    )
    scope = Scope(
        audiences=["crm"],
        tools=["crm.read", "crm.update"],
        actions=["read", "write"],
        resources=["crm://accounts/**"],
        expires=NOW + 3600,
    )
    token = _mint(
        keyring,
        task,
        Agent("orchestrator", keys[0].public_key),
        scope,
        now=NOW,
        nonce=bytes(16),
        location=None,
    )
    room = MAX_CAVEATS - len(token.raw.caveats) - depth
    narrowing = min(NARROWING_PER_HOP * depth, room)
    for i in range(depth):
        nxt = fixtures.agent_key(10 + i)
        token = delegate(token, keys[-1], Agent(f"agent-{i + 1}", nxt.public_key), now=NOW)
        count = narrowing // depth + (i < narrowing % depth)
        narrower: list[Caveat] = [
            Validity(None, NOW + 3600 - 10 * (i + 1)),
            Tool(("crm.read",)),
            ResourceCaveat(("crm://accounts/42/**",)),
        ]
        token = attenuate(token, narrower[:count], now=NOW)
        keys.append(nxt)
    return Workload(depth, token, token.encode(), keys[-1], narrowing)


# --- the measured operations ----------------------------------------------------------------


def hmac_floor(key: bytes, messages: list[bytes]) -> bytes:
    """The floor: one chained HMAC-SHA256 per message, nothing else, through OpenSSL's one-shot
    HMAC (the same primitive the library calls, so the floor is not flattered)."""
    sig = key
    for msg in messages:
        sig = _hmac_digest(sig, msg, "sha256")
    return sig


def bearer_check(verifier: Verifier, keyring: Keyring, text: str, request: Request) -> None:
    """Chain check without hop signature verification or proof: the production code path.

    ``Verifier.check_chain`` (base64url, V2 framing, memoised identifier decode, key lookup, HMAC
    chain from the cached derived key and constant-time compare, caveat parse memoised by caveat
    bytes, chain digests and hop ids, holder continuity with hop signatures answered by the
    verifier's hop cache, warmed before timing) and ``_request.check_caveats`` (every caveat
    against the request). Excludes: revocation, discharges, the proof of possession and the
    nonce store, use counting, the Decision object.
    """
    chain = verifier.check_chain(text)
    if _request.check_caveats(chain, request, NOW):
        raise AssertionError("caveat failed")


class _BytesCaveatDelegate:
    """pymacaroons' stock first-party delegate decodes caveat ids as UTF-8 and raises on CBOR;
    this one hands the bytes to the checkers and signs with pymacaroons' own primitive."""

    def verify_first_party_caveat(self, verifier: Any, caveat: Any, signature: bytes) -> bool:
        return any(callback(caveat.caveat_id_bytes) for callback in verifier.callbacks)

    def update_signature(self, signature: bytes, caveat: Any) -> bytes:
        return binascii.unhexlify(sign_first_party_caveat(signature, caveat.caveat_id_bytes))


def pymacaroons_verifier() -> Any:
    verifier = pymacaroons.Verifier()
    verifier.first_party_caveat_verifier_delegate = _BytesCaveatDelegate()
    verifier.satisfy_general(lambda cid: True)
    return verifier


def pymacaroons_check(verifier: Any, text: str) -> None:
    if verifier.verify(pymacaroons.Macaroon.deserialize(text), ROOT_SECRET) is not True:
        raise AssertionError("pymacaroons denied")


# --- timing --------------------------------------------------------------------------------

OPS = ("floor", "bearer", "pymacaroons", "warm", "authorize", "ed25519", "ed25519+load")


@dataclass(frozen=True)
class Row:
    """One depth: per-op medians (us), batch sizes, and the paired per-round ratios."""

    depth: int
    caveats: int
    narrowing: int
    median_us: dict[str, float]
    batch: dict[str, int]
    ratios: dict[str, float]


CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}
_clock = CLOCKS["wall"]


def _batch_ns(op: Callable[[], object], n: int) -> int:
    start = _clock()
    for _ in range(n):
        op()
    return _clock() - start


def _calibrate(op: Callable[[], object], batch_ns: int) -> int:
    per_op = _batch_ns(op, 20) / 20  # doubles as warm-up
    return max(1, int(batch_ns / max(per_op, 1.0)))


def _proof(work: Workload, i: int) -> str:
    nonce = (work.depth * 10_000_000 + i).to_bytes(16, "big")
    return _prove(work.token, work.holder, REQUEST, now=NOW, nonce=nonce)


def _ed25519_ops() -> tuple[Callable[[], None], Callable[[], bool]]:
    key = fixtures.agent_key(99)
    message = b"delegation/v1/pop\x00" + bytes(range(100))
    signature = key.sign(message)
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    return (
        lambda: public.verify(signature, message),
        lambda: _crypto.ed25519_verify(key.public_key, signature, message),
    )


def measure_depth(keyring: Keyring, depth: int, rounds: int, batch_ns: int) -> Row:
    """Every op at one depth, interleaved round by round so that machine noise hits all alike."""
    work = build_workload(keyring, depth)
    raw = work.token.raw
    derived = hmac.digest(b"macaroons-key-generator", ROOT_SECRET, "sha256")
    messages = [raw.identifier, *(c.cid for c in raw.caveats)]
    verifier = Verifier(keyring, state=MemoryState(max_entries=10_000_000), clock=lambda: NOW)
    pm = pymacaroons_verifier()
    bearer_check(verifier, keyring, work.text, REQUEST)  # fails loudly if the setup is wrong
    pymacaroons_check(pm, work.text)
    first = verifier.verify(work.text, REQUEST, _proof(work, 0))  # caches the hop signatures
    if not first.allowed:
        raise AssertionError(f"warm-up verify denied: {first.reasons}")

    chain = verifier.check_chain(work.text)
    proofs = iter([_proof(work, 1 + i) for i in range(20)])
    reused = iter([_proof(work, 1_000_000 + i) for i in range(20)])

    def warm() -> None:
        if not verifier.verify(work.text, REQUEST, next(proofs)).allowed:
            raise AssertionError("warm verify denied")

    def authorize() -> None:
        if not verifier.authorize(chain, REQUEST, next(reused)).allowed:
            raise AssertionError("authorize denied")

    ed, ed_load = _ed25519_ops()
    ops: dict[str, Callable[[], object]] = {
        "floor": lambda: hmac_floor(derived, messages),
        "bearer": lambda: bearer_check(verifier, keyring, work.text, REQUEST),
        "pymacaroons": lambda: pymacaroons_check(pm, work.text),
        "warm": warm,
        "authorize": authorize,
        "ed25519": ed,
        "ed25519+load": ed_load,
    }
    batch = {name: _calibrate(op, batch_ns) for name, op in ops.items()}
    # One fresh proof per timed call, all signed before timing starts.
    proofs = iter([_proof(work, 100 + i) for i in range(batch["warm"] * rounds)])
    reused = iter([_proof(work, 2_000_000 + i) for i in range(batch["authorize"] * rounds)])

    samples: dict[str, list[float]] = {name: [] for name in ops}
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, op in ops.items():
                samples[name].append(_batch_ns(op, batch[name]) / batch[name] / 1000)
    finally:
        gc.enable()

    def paired(num: str, den: str) -> float:
        return statistics.median(a / b for a, b in zip(samples[num], samples[den], strict=True))

    return Row(
        depth,
        work.caveats,
        work.narrowing,
        {name: statistics.median(s) for name, s in samples.items()},
        batch,
        {
            "bearer/floor": paired("bearer", "floor"),
            "pymacaroons/bearer": paired("pymacaroons", "bearer"),
            "warm/ed25519": paired("warm", "ed25519"),
            "authorize/ed25519": paired("authorize", "ed25519"),
        },
    )


# --- the run -------------------------------------------------------------------------------


def run(quick: bool, clock: str = "wall") -> tuple[list[Row], int]:
    global _clock
    _clock = CLOCKS[clock]
    rounds, batch_ns = (9, 25_000_000) if quick else (21, 100_000_000)
    keyring = fixtures.keyring(fixtures.root_key(1, key_id="bench-k1", created=NOW))
    return [measure_depth(keyring, depth, rounds, batch_ns) for depth in DEPTHS], rounds


def _verdict(name: str, value: float) -> str:
    op, target = TARGETS[name]
    met = value <= target if op == "<=" else value >= target
    return f"{value:.2f}x ({'met' if met else 'NOT met'}; target {op} {target:g}x)"


def render(rows: list[Row], rounds: int, quick: bool, clock: str = "wall") -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(
        f"{p} {version(p)}" for p in ("cryptography", "cbor2", "pymacaroons", "delegation")
    )
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# Verification benchmark",
        "",
        f"- date: {when}",
        f"- machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.platform()}",
        f"- load average at the end of the run (1/5/15 min): {load}",
        f"- python: {platform.python_implementation()} {platform.python_version()}",
        f"- packages: {versions}",
        f"- mode: {'quick' if quick else 'full'}; {rounds} rounds, the ops interleaved in each"
        " round; per-op medians; ratios are medians of the per-round ratios",
        f"- clock: {clock} ("
        + ("time.perf_counter_ns" if clock == "wall" else "time.process_time_ns, CPU time")
        + ")",
        "- command: `python benchmarks/bench_verify.py"
        + (" --quick" if quick else "")
        + ("" if clock == "wall" else f" --clock {clock}")
        + "`",
        "",
        "## Per-op time (microseconds, median)",
        "",
        "| D | caveats | floor: HMAC calls | floor | bearer | pymacaroons | warm verify"
        " | authorize only | ed25519 | ed25519 + key load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = r.median_us
        lines.append(
            f"| {r.depth} | {r.caveats} ({r.narrowing} narrowing) | {r.caveats + 1}"
            f" | {m['floor']:.1f} | {m['bearer']:.1f} | {m['pymacaroons']:.1f}"
            f" | {m['warm']:.1f} | {m['authorize']:.1f} | {m['ed25519']:.1f}"
            f" | {m['ed25519+load']:.1f} |"
        )
    lines += [
        "",
        "## Ratios against the issue's targets (reported, never asserted)",
        "",
        "| D | bearer / floor | pymacaroons / bearer | warm / ed25519 |",
        "|---:|---|---|---|",
    ]
    for r in rows:
        cells = " | ".join(_verdict(name, r.ratios[name]) for name in TARGETS)
        lines.append(f"| {r.depth} | {cells} |")
    lines += [
        "",
        "Not a target, for the lead: authorize only (a VerifiedChain reused, i.e. what a chain"
        " cache would leave per request) / ed25519: "
        + ", ".join(f"D={r.depth} {r.ratios['authorize/ed25519']:.2f}x" for r in rows)
        + ".",
    ]
    lines += [
        "",
        "## Calls per timed batch",
        "",
        "| D | " + " | ".join(OPS) + " |",
        "|---:|" + "---:|" * len(OPS),
    ]
    for r in rows:
        lines.append(f"| {r.depth} | " + " | ".join(str(r.batch[name]) for name in OPS) + " |")
    return "\n".join(lines) + "\n"


# --- profiling -----------------------------------------------------------------------------


def profile(path: str, depth: int, calls: int, top: int) -> str:
    """cProfile ``calls`` bearer checks or warm verifies at ``depth``; the top entries."""
    keyring = fixtures.keyring(fixtures.root_key(1, key_id="bench-k1", created=NOW))
    work = build_workload(keyring, depth)
    verifier = Verifier(keyring, state=MemoryState(max_entries=10_000_000), clock=lambda: NOW)
    if path == "bearer":
        bearer_check(verifier, keyring, work.text, REQUEST)

        def body() -> None:
            for _ in range(calls):
                bearer_check(verifier, keyring, work.text, REQUEST)

    else:
        verifier.verify(work.text, REQUEST, _proof(work, 0))
        proofs = [_proof(work, i + 1) for i in range(calls)]

        def body() -> None:
            for proof in proofs:
                verifier.verify(work.text, REQUEST, proof)

    prof = cProfile.Profile()
    prof.runcall(body)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("delegation/", top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds; under 20 s")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: perf_counter_ns (default); cpu: process CPU time, steadier on a busy machine",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown results file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--profile", choices=["bearer", "warm"], help="cProfile one path")
    parser.add_argument("--depth", type=int, default=16, choices=DEPTHS, help="for --profile")
    parser.add_argument("--calls", type=int, default=2000, help="for --profile")
    parser.add_argument("--top", type=int, default=25, help="for --profile")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.depth, args.calls, args.top))
        return 0
    rows, rounds = run(args.quick, args.clock)
    report = render(rows, rounds, args.quick, args.clock)
    print(report)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
