"""Run one fuzz harness: ``python -m fuzz.run TARGET [--runs N | --time S]``.

TARGET is one of ``token``, ``verify``, ``request``, ``discharge``, ``proof``
(``fuzz/targets.py``). ``--ci`` is the fixed budget CI runs (``CI_RUNS``). The corpus starts
from the vectors (``specs/vectors/*.json``) and grows in ``fuzz/corpus/TARGET/``; a crash is
written to ``fuzz/crashes/TARGET/crash-<sha1>`` and replayed with ``--reproduce FILE``, which
runs the target once, uninstrumented, and shows the traceback. ``--coverage`` replays the
corpus under coverage.py and prints the library's line coverage. Anything after ``--`` goes to
libFuzzer as is (``-- -max_len=4096``).

atheris comes with the ``fuzz`` extra: ``pip install -e '.[fuzz]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("token", "verify", "request", "discharge", "proof")
CI_RUNS = {
    "token": 60_000,
    "verify": 15_000,
    "request": 100_000,
    "discharge": 8_000,
    "proof": 40_000,
}
"""``--ci``: each harness's fixed budget, about 20 seconds on one loaded core, from a fresh
corpus of the seeds with seed 1, so a CI run is the same run every time."""


def _seed(target: str, corpus: Path) -> int:
    """Write the target's seeds into ``corpus`` (named by content); returns how many."""
    from fuzz.targets import TARGETS

    corpus.mkdir(parents=True, exist_ok=True)
    count = 0
    for data in TARGETS[target][1]():
        path = corpus / f"seed-{hashlib.sha1(data).hexdigest()}"
        if not path.exists():
            path.write_bytes(data)
        count += 1
    return count


def _inputs(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out += sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return out


def reproduce(target: str, paths: list[Path]) -> int:
    """Run ``target`` once on each file, uninstrumented; 1 if any raised."""
    from fuzz.targets import TARGETS

    run = TARGETS[target][0]
    failed = 0
    for path in _inputs(paths):
        try:
            run(path.read_bytes())
        except Exception:
            failed += 1
            print(f"{path}: CRASH", file=sys.stderr)
            traceback.print_exc()
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def coverage(target: str, corpus: Path) -> int:
    """Replay ``corpus`` under coverage.py and print the library's coverage."""
    import coverage as cov_module

    cov = cov_module.Coverage(
        source=["delegation"],
        omit=["*/delegation/cli/*", "*/delegation/testing/*"],
        data_file=str(HERE / "corpus" / f".coverage.{target}"),
        branch=True,
    )
    cov.start()
    from fuzz.targets import TARGETS

    _seed(target, corpus)

    run = TARGETS[target][0]
    files = _inputs([corpus])
    for path in files:
        with contextlib.suppress(Exception):  # a crash is --reproduce's business
            run(path.read_bytes())
    cov.stop()
    cov.save()
    print(f"{target}: {len(files)} corpus inputs replayed")
    total = cov.report(show_missing=False, skip_covered=False, file=sys.stdout)
    print(f"{target}: total coverage {total:.1f}%")
    return 0


def fuzz(target: str, corpus: Path, crashes: Path, libfuzzer: list[str]) -> int:
    """Fuzz ``target`` under atheris with the library instrumented; never returns on a crash
    (libFuzzer writes the input and exits non-zero)."""
    import atheris
    from atheris.import_hook import instrument_imports

    with instrument_imports(include=["delegation"]):
        import delegation  # noqa: F401 (instrumented here, before the targets import it)
        from fuzz.targets import TARGETS

    seeds = _seed(target, corpus)
    print(f"{target}: {seeds} seeds from specs/vectors in {corpus}", flush=True)
    crashes.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-artifact_prefix={crashes}{os.sep}",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        *libfuzzer,
        str(corpus),
    ]
    atheris.Setup(argv, TARGETS[target][0])
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    passthrough: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, passthrough = args[:cut], args[cut + 1 :]
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=NAMES)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--runs", type=int, help="stop after this many executions")
    budget.add_argument("--time", type=int, help="stop after this many seconds")
    parser.add_argument("--corpus", type=Path, help="corpus directory (fuzz/corpus/TARGET)")
    parser.add_argument("--crashes", type=Path, help="crash directory (fuzz/crashes/TARGET)")
    parser.add_argument("--reproduce", type=Path, nargs="+", metavar="FILE", help="run inputs")
    parser.add_argument("--coverage", action="store_true", help="replay the corpus, report")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's seed (0: random)")
    parser.add_argument("--ci", action="store_true", help="CI's fixed budget (CI_RUNS)")
    opts = parser.parse_args(args)
    sys.path.insert(0, str(HERE.parent))
    if opts.reproduce:
        return reproduce(opts.target, opts.reproduce)
    if opts.ci:
        opts.runs, opts.seed = CI_RUNS[opts.target], 1
        opts.corpus = HERE / "corpus" / f"ci-{opts.target}"
        shutil.rmtree(opts.corpus, ignore_errors=True)  # a fresh corpus: the same run each time
    corpus = opts.corpus or HERE / "corpus" / opts.target
    crashes = opts.crashes or HERE / "crashes" / opts.target
    if opts.coverage:
        return coverage(opts.target, corpus)
    flags = [f"-seed={opts.seed}"] if opts.seed else []
    if opts.runs is not None:
        flags.append(f"-runs={opts.runs}")
    if opts.time is not None:
        flags.append(f"-max_total_time={opts.time}")
    return fuzz(opts.target, corpus, crashes, [*flags, *passthrough])


if __name__ == "__main__":
    sys.exit(main())
