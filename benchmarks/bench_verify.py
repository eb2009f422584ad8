"""Verification benchmarks against the peers (issue 14): ``python benchmarks/bench_verify.py``.

Measures, side by side in one run, all interleaved, at D = 1, 4, 16 ("D hops x 3 caveats",
``workload.py``): our holder-bound ``Verifier.verify`` and bearer chain check, cold (first
sight) and warm (token seen before); pymacaroons, macaroonbakery, biscuit-python, Tenuo and a
flat PyJWT chain (``peers/``), each checked before timing to allow the call in scope and deny
the calls out of scope; the floors (``floors.py``). Prints the whole table, the ratios and
every target of issue 14 with met / not met, the cache memory per entry, and writes it all to
``benchmarks/results/latest.md`` (``--out``, ``--no-write``). ``--profile PATH`` runs cProfile
on one of our paths instead. Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import floors
import harness
import ours
from harness import Op, Samples
from workload import DEPTHS, IN_SCOPE, System, Timed, timed, verdict_problems

try:
    from peers.bakery_macaroons import Bakery
    from peers.biscuit_tokens import Biscuit
    from peers.jwt_chain import JwtChain
    from peers.pymacaroons_chain import Pymacaroons
    from peers.tenuo_warrants import Tenuo
except ModuleNotFoundError as exc:  # the peers come with the bench extra, never at run time
    raise SystemExit(f"{exc}: install the peers first: pip install -e '.[bench]'") from exc

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.md"
PACKAGES = (
    "delegation",
    "cryptography",
    "PyNaCl",
    "cbor2",
    "pymacaroons",
    "macaroonbakery",
    "biscuit-python",
    "tenuo",
    "PyJWT",
)
LIBSODIUM = "ed25519 libsodium"
OPENSSL = "ed25519 OpenSSL"
HMAC = "HMAC floor"
PY_FLOOR = "least Python warm verify"
OURS = ours.HolderBound.name
BEARER = ours.Bearer.name
LONG_LIVED = ours.LongLived.name
BUDGETED = ours.WithBudget.name
HOLDER_PEERS: tuple[type[System[Any]], ...] = (Biscuit, Tenuo, JwtChain)
BEARER_PEERS: tuple[type[System[Any]], ...] = (Pymacaroons, Bakery)


# --- the run --------------------------------------------------------------------------------


def _op(system: System[Any], mode: str) -> Op:
    def make(n: int) -> Timed:
        if mode == "cold":
            return timed(system.cold, system.cold_inputs(n, IN_SCOPE))
        return timed(system.warm, system.warm_inputs(n, IN_SCOPE))

    return Op(f"{system.name} {mode}", system.depth, make)


def _constant(call: Timed) -> Callable[[int], Timed]:
    return lambda n: call


def _python_floor(holder: ours.HolderBound) -> Callable[[int], Timed]:
    return lambda n: timed(floors.python_warm_floor, holder.warm_inputs(n, IN_SCOPE))


def build_ops(depths: tuple[int, ...], say: Callable[[str], None]) -> list[Op]:
    """Every op at every depth, each system's verdicts checked first. Raises SystemExit if a
    system allows a call out of scope or denies the one in scope."""
    ops: list[Op] = []
    problems: list[str] = []
    for depth in depths:
        say(f"building the systems at D={depth} and checking their verdicts")
        holder = ours.HolderBound(depth)
        key, messages = holder.floor_messages()
        ops += [
            Op(LIBSODIUM, depth, _constant(floors.ed25519_libsodium())),
            Op(OPENSSL, depth, _constant(floors.ed25519_openssl())),
            Op(HMAC, depth, _constant(floors.hmac_chain(key, messages))),
            Op(PY_FLOOR, depth, _python_floor(holder)),
        ]
        systems: list[System[Any]] = [holder, ours.Bearer(depth)]
        systems += [peer(depth) for peer in HOLDER_PEERS + BEARER_PEERS]
        long_lived = ours.LongLived(depth)
        budgeted = ours.WithBudget(depth)
        for system in [*systems, long_lived, budgeted]:
            problems += verdict_problems(system)
        ops += [_op(system, mode) for system in systems for mode in ("cold", "warm")]
        ops.append(_op(long_lived, "cold"))
        ops.append(_op(budgeted, "warm"))
    if problems:
        raise SystemExit("verdicts wrong, nothing timed:\n" + "\n".join(problems))
    return ops


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    what: str
    value: float
    op: str
    bound: float

    @property
    def met(self) -> bool:
        return self.value <= self.bound if self.op == "<=" else self.value >= self.bound

    def cell(self) -> str:
        return f"{self.value:.2f}x ({'met' if self.met else 'NOT met'})"


Ratio = Callable[[Callable[[str, int], float]], float]


def _over(num: str, den: str, depth: int, den_depth: int | None = None) -> Ratio:
    """One op's time over another's, in the same round."""
    other = depth if den_depth is None else den_depth
    return lambda us: us(num, depth) / us(den, other)


def _bearer_bound(depth: int) -> Ratio:
    """pymacaroons' cold check over the D signature verifications our bearer check cannot skip:
    the most any such check could be faster than pymacaroons on this machine."""
    return lambda us: us(f"{Pymacaroons.name} cold", depth) / (depth * us(LIBSODIUM, depth))


def _first_sight(depth: int) -> Ratio:
    """Our first sight over its floor: D + 1 libsodium verifications and the HMAC chain."""
    return lambda us: (
        us(f"{OURS} cold", depth) / ((depth + 1) * us(LIBSODIUM, depth) + us(HMAC, depth))
    )


def targets(s: Samples, depths: tuple[int, ...]) -> list[Verdict]:
    """Every target of issue 14, each a paired ratio."""
    warm = f"{OURS} warm"
    out = [
        Verdict(
            f"warm holder-bound verify / one libsodium Ed25519 verify, D={d}",
            s.paired(_over(warm, LIBSODIUM, d)),
            "<=",
            1.3,
        )
        for d in depths
    ]
    if 1 in depths and 16 in depths:
        out.append(
            Verdict(
                "warm holder-bound verify D=16 / D=1", s.paired(_over(warm, warm, 16, 1)), "<=", 1.2
            )
        )
    out += [
        Verdict(
            f"first sight / ((D+1) libsodium verifies + HMAC floor), D={d}",
            s.paired(_first_sight(d)),
            "<=",
            1.2,
        )
        for d in depths
    ]
    out += [
        Verdict(
            f"pymacaroons / ours bearer chain check, {mode}, D={d}",
            s.paired(_over(f"{Pymacaroons.name} {mode}", f"{BEARER} {mode}", d)),
            ">=",
            3.0,
        )
        for mode in ("cold", "warm")
        for d in depths
    ]
    return out


def peer_speedups(s: Samples, depths: tuple[int, ...]) -> list[tuple[str, list[Verdict]]]:
    """Peer time / our time on the same workload, per peer and mode: > 1 means we are faster.
    Holder-bound peers against our holder-bound verify; bearer macaroons against our bearer
    chain check."""
    rows = []
    pairs = [(p.name, OURS) for p in HOLDER_PEERS] + [(p.name, BEARER) for p in BEARER_PEERS]
    for peer, mine in pairs:
        for mode in ("cold", "warm"):
            verdicts = [
                Verdict(
                    f"{peer} / {mine}, {mode}, D={d}",
                    s.paired(_over(f"{peer} {mode}", f"{mine} {mode}", d)),
                    ">=",
                    1.0,
                )
                for d in depths
            ]
            rows.append((f"{peer} {mode} / {mine} {mode}", verdicts))
    return rows


# --- the report -----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True)
class Run:
    samples: Samples
    memory: list[ours.CacheMemory]
    memos: list[ours.MemoMemory]
    depths: tuple[int, ...]
    quick: bool
    clock: str
    load_start: str
    load_end: str
    note: str
    command: str


def _row_order(depths: tuple[int, ...], samples: Samples) -> list[str]:
    names: list[str] = []
    for name, depth in samples.per_round:
        if depth == depths[0] and name not in names:
            names.append(name)
    return names


SYSTEMS: tuple[type[System[Any]], ...] = (
    ours.HolderBound,
    ours.Bearer,
    ours.LongLived,
    ours.WithBudget,
    *HOLDER_PEERS,
    *BEARER_PEERS,
)
SIGNATURES = {
    LIBSODIUM: "1",
    OPENSSL: "1",
    HMAC: "0 (caveats + 1 HMACs)",
    PY_FLOOR: "1 (not a verifier: floors.py)",
    **{
        f"{system.name} {mode}": system.signatures[i]
        for system in SYSTEMS
        for i, mode in enumerate(("cold", "warm"))
    },
}


def _ratios(s: Samples, depths: tuple[int, ...], num: str, den: str) -> str:
    return ", ".join(f"D={d} {s.paired(_over(num, den, d)):.2f}x" for d in depths)


def render(run: Run) -> str:
    s, depths = run.samples, run.depths
    head = " | ".join(f"D={d}" for d in depths)
    lines = [
        "# Verification benchmark: delegation and its peers (issue 14)",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.machine()}, {_cpu()}, nproc {os.cpu_count()}, {platform.platform()}",
        f"- load average (1/5/15 min) at the start: {run.load_start}; at the end: {run.load_end}",
    ]
    if run.note:
        lines.append(f"- note: {run.note}")
    lines += [
        f"- python: {platform.python_implementation()} {platform.python_version()}",
        "- packages: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
        f"- mode: {'quick' if run.quick else 'full'}; {s.rounds} rounds, every op of every"
        " depth interleaved in each round; per-op medians; ratios are medians of per-round"
        " ratios",
        f"- clock: {run.clock} ("
        + ("time.perf_counter_ns" if run.clock == "wall" else "time.process_time_ns, CPU time")
        + ")",
        f"- command: `{run.command}`",
        "",
        "## Per-call time (microseconds, median)",
        "",
        "What each row times: benchmarks/README.md. Cold: first sight (a new token from new"
        " keys, a fresh verifier). Warm: the token seen before, a fresh proof per call.",
        "",
        f"| op | signature checks per call | {head} |",
        "|---|---|" + "---:|" * len(depths),
    ]
    for name in _row_order(depths, s):
        cells = " | ".join(f"{s.median(name, d):.1f}" for d in depths)
        lines.append(f"| {name} | {SIGNATURES.get(name, '')} | {cells} |")

    lines += [
        "",
        "## Against the peers (peer time / our time, paired; > 1: we are faster)",
        "",
        f"| ratio | {head} |",
        "|---|" + "---|" * len(depths),
    ]
    speedups = peer_speedups(s, depths)
    for label, verdicts in speedups:
        lines.append(f"| {label} | " + " | ".join(v.cell() for v in verdicts) + " |")
    flat = [v for _, verdicts in speedups for v in verdicts]
    beaten = sum(c.met for c in flat)
    lines += [
        "",
        f"Faster than every peer at every D, cold and warm: {beaten} of {len(flat)} comparisons"
        f" met, so the target is {'met' if beaten == len(flat) else 'NOT met'}.",
        "",
        "## Issue 14's targets (reported, never asserted)",
        "",
        "| target | ratio | bound | |",
        "|---|---:|---:|---|",
    ]
    for v in targets(s, depths):
        lines.append(
            f"| {v.what} | {v.value:.2f}x | {v.op} {v.bound:g}x | {'met' if v.met else 'NOT met'} |"
        )
    lines += [
        "",
        "Not targets: one libsodium Ed25519 verify / one OpenSSL verify: "
        + _ratios(s, depths, LIBSODIUM, OPENSSL)
        + "; first sight in a long-lived verifier (its caveat-parse memo warm) / first sight in"
        " a fresh one: " + _ratios(s, depths, f"{LONG_LIVED} cold", f"{OURS} cold") + "; warm"
        " verify that charges a budget / one that does not (issue 13): "
        + _ratios(s, depths, f"{BUDGETED} warm", f"{OURS} warm")
        + ".",
        "",
        "Bounds, not targets: the least a pure-Python warm verify can do (floors.py: the proof"
        " read, the request digested, one libsodium verify, one state check, one Decision) / one"
        " libsodium verify: " + _ratios(s, depths, PY_FLOOR, LIBSODIUM) + "; ours warm / that"
        " least: " + _ratios(s, depths, f"{OURS} warm", PY_FLOOR) + "; the most any bearer"
        " check that verifies the D hop signatures could be faster than pymacaroons cold, here"
        " (pymacaroons cold / D libsodium verifies, before any parsing; the target asks 3x): "
        + ", ".join(f"D={d} {s.paired(_bearer_bound(d)):.2f}x" for d in depths)
        + ".",
        "",
        "## Cache memory (tracemalloc: bytes that emptying the cache frees, per entry)",
        "",
        "| D | tokens | token text (chars) | verified-chain entry | charged (entry_cost)"
        " | hop-signature entry | caveat-parse memo entry"
        " | the default chain cache (1024 entries, 32 MiB charged) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in run.memory:
        lines.append(
            f"| {m.depth} | {m.tokens} | {m.token_chars} | {m.chain_entry:,.0f} B"
            f" | {m.charged:,} B | {m.hop_entry:,.0f} B | {m.parse_entry:,.0f} B"
            f" | holds {m.default_chain_entries} such tokens, about"
            f" {m.default_chain_entries * m.chain_entry / 2**20:.1f} MiB |"
        )
    lines += [
        "",
        "The memos that presenters fill (tokens, caveats, requests), each bounded in entries and"
        " in the input it keeps, emptied when either would be passed; bytes per entry as above,"
        " for workload-like inputs and for the largest input each keeps:",
        "",
        "| memo | entries at most | and at most | typical entry | largest entry"
        " | largest entries that fit | so at most |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for memo in run.memos:
        lines.append(
            f"| {memo.name} | {memo.entries:,} | {memo.input_limit} | {memo.typical:,.0f} B"
            f" | {memo.largest:,.0f} B | {memo.most_entries_largest:,}"
            f" | {memo.bound_bytes / 2**20:.1f} MiB |"
        )
    lines += [
        "",
        "## Calls per timed batch",
        "",
        f"| op | {head} |",
        "|---|" + "---:|" * len(depths),
    ]
    for name in _row_order(depths, s):
        lines.append(f"| {name} | " + " | ".join(str(s.batch[name, d]) for d in depths) + " |")
    return "\n".join(lines) + "\n"


# --- profiling ------------------------------------------------------------------------------


def profile(path: str, depth: int, calls: int, top: int) -> str:
    """cProfile ``calls`` runs of one of our paths at ``depth``; the top entries."""
    body = ours.profile_body(path, depth, calls)
    prof = cProfile.Profile()
    prof.runcall(body)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("delegation/", top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds; < 60 s")
    parser.add_argument(
        "--clock",
        choices=sorted(harness.CLOCKS),
        default="wall",
        help="wall: perf_counter_ns (default); cpu: process CPU time, steadier on a busy machine",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown results file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--note", default="", help="a line about the machine, for the results")
    parser.add_argument("--profile", choices=sorted(ours.PROFILED), help="cProfile one path")
    parser.add_argument("--depth", type=int, default=16, choices=DEPTHS, help="for --profile")
    parser.add_argument("--calls", type=int, default=1000, help="for --profile")
    parser.add_argument("--top", type=int, default=25, help="for --profile")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.depth, args.calls, args.top))
        return 0

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_start = _load()
    rounds, batch_ns, cached = (9, 20_000_000, 200) if args.quick else (21, 100_000_000, 1000)
    ops = build_ops(DEPTHS, say)
    samples = harness.measure(ops, rounds, batch_ns, args.clock, say)
    say(f"cache memory: {cached} tokens at each depth")
    memory = [ours.cache_memory(depth, cached) for depth in DEPTHS]
    say(f"memo memory: {cached} entries each")
    memos = ours.memo_memory(cached)
    command = "python benchmarks/bench_verify.py" + (" --quick" if args.quick else "")
    command += "" if args.clock == "wall" else f" --clock {args.clock}"
    run = Run(
        samples,
        memory,
        memos,
        DEPTHS,
        args.quick,
        args.clock,
        load_start,
        _load(),
        args.note,
        command,
    )
    report = render(run)
    print(report)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
        say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
