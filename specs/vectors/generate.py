#!/usr/bin/env python3
"""Seeded generator of the delegation test vectors in this directory.

    python specs/vectors/generate.py           rewrite every vector file
    python specs/vectors/generate.py --check   exit 1 if a file on disk differs or is unknown

Each vector file ``<name>.json`` is built by one module of the ``gen`` package next to this
script, ``gen/<name>.py`` (or the package ``gen/<name>/``), whose ``build()`` returns it; the
shared keys, tokens and helpers are in ``gen/fixtures.py``, the file model and its JSON in
``gen/render.py``. See README.md here for how to add a vector.

Everything is fixed: the root key, the Ed25519 seeds, the third parties' X25519 seeds, caveat
root keys, ticket ephemeral keys, VID nonces, mint nonces, proof nonces and times. Ed25519,
deterministic CBOR, and X25519 + HKDF + ChaCha20-Poly1305 with fixed inputs are deterministic,
so each run writes the same bytes.

Expected results are written in the builders by hand from the spec, never by running the
verifier: a vector that the library gets wrong must fail the tests, not be regenerated to match.

ALL KEYS HERE ARE TEST-ONLY FIXTURES. They are public; never use them for anything real.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by path (the tests do) rather than run as a script
    sys.path.insert(0, str(HERE))

from gen import (  # noqa: E402
    budgets,
    caveats,
    chain,
    encoding,
    http,
    integrity,
    policy,
    proof,
    requests,
    sections,
    service,
    state,
    thirdparty,
    valid,
)
from gen.render import VectorFile  # noqa: E402

BUILDERS: tuple[Callable[[], VectorFile], ...] = (
    valid.build,
    integrity.build,
    encoding.build,
    caveats.build,
    chain.build,
    proof.build,
    thirdparty.build,
    state.build,
    budgets.build,
    policy.build,
    service.build,
    http.build,
    requests.build,
)
"""One module per vector file: ``gen.<name>.build()`` returns the VectorFile ``<name>.json``."""


def render_all() -> dict[str, str]:
    """Every vector file's name and exact text."""
    out: dict[str, str] = {}
    names: set[str] = set()
    for build in BUILDERS:
        vf = build()
        for vector in vf.vectors:
            if vector["name"] in names:
                raise AssertionError(f"vector name {vector['name']} is used twice")
            names.add(vector["name"])
        out[vf.filename] = vf.render()
    return out


README = HERE.parent / "README.md"
"""The spec's README, whose final section (``sections.HEADING``) is the vector index."""


def all_names() -> list[str]:
    """Every vector name, in file order."""
    return [v["name"] for build in BUILDERS for v in build().vectors]


def readme_with_index(text: str, names: Sequence[str]) -> str:
    """``text`` (the spec README) with its final section replaced by the generated index."""
    at = text.find("\n" + sections.HEADING + "\n")
    head = text if at < 0 else text[: at + 1]
    return head.rstrip("\n") + "\n\n" + sections.render(names)


def main(argv: Sequence[str] | None = None, directory: Path = HERE) -> int:
    """The command line; ``directory`` is where the vector files are (tests pass another).
    The index at the end of the spec README is checked or written only for this directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if any file differs instead of writing"
    )
    args = parser.parse_args(argv)
    files = render_all()
    stale = sorted(p.name for p in directory.glob("*.json") if p.name not in files)
    if args.check:
        differ = [
            name
            for name, content in files.items()
            if not (directory / name).exists()
            or (directory / name).read_text(encoding="utf-8") != content
        ]
        for name in differ:
            print(f"{name}: differs from what generate.py writes; run it", file=sys.stderr)
        for name in stale:
            print(f"{name}: not written by generate.py; delete it", file=sys.stderr)
        if directory == HERE:
            text = README.read_text(encoding="utf-8")
            if readme_with_index(text, all_names()) != text:
                print("README.md: its vector index differs; run generate.py", file=sys.stderr)
                differ.append(README.name)
        return 1 if differ or stale else 0
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8", newline="\n")
    for name in stale:
        print(f"warning: {name} is not written by generate.py", file=sys.stderr)
    if directory == HERE:
        text = README.read_text(encoding="utf-8")
        README.write_text(readme_with_index(text, all_names()), encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
