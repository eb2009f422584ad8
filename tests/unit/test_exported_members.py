"""The curated public API: ``delegation.__all__`` is exactly what we mean to export.

STYLE.md: recipes over primitives; the HMAC chain, key derivation and wire codec stay private.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import delegation
import delegation.caveats
import delegation.stores

EXPECTED = [
    "Agent",
    "AgentKey",
    "Approver",
    "ApproverKey",
    "ArgConstraint",
    "ArgOp",
    "ArgsOnly",
    "AuthoringError",
    "BadDischarge",
    "BadProof",
    "Balance",
    "Budget",
    "Caveat",
    "Code",
    "Decision",
    "DelegationError",
    "Denied",
    "InvalidRevocation",
    "Keyring",
    "KeyringError",
    "Link",
    "MalformedRequest",
    "MalformedToken",
    "MaxUses",
    "MemoryState",
    "MisuseError",
    "NotNarrowing",
    "PatternError",
    "Reason",
    "Registry",
    "Request",
    "Revocation",
    "RevocationKind",
    "RootKey",
    "Rule",
    "SQLiteState",
    "Scope",
    "SettleReason",
    "SettleRefused",
    "SettledCharge",
    "State",
    "StoreUnavailable",
    "TaskRecord",
    "TokenError",
    "TokenTooLarge",
    "UnverifiedToken",
    "VerifiedChain",
    "Verifier",
    "__version__",
    "attenuate",
    "bind_discharge",
    "decode",
    "decode_public_key",
    "default_registry",
    "delegate",
    "encode_public_key",
    "mint",
    "prove",
    "prove_for_approval",
    "require_approval",
]


def test_all_is_exactly_the_intended_set() -> None:
    assert delegation.__all__ == EXPECTED


def test_every_exported_name_resolves_to_a_delegation_object() -> None:
    for name in delegation.__all__:
        if name == "__version__":
            assert isinstance(delegation.__version__, str)
            continue
        member = getattr(delegation, name)
        assert member.__module__.startswith("delegation."), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from delegation import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(EXPECTED)


def test_private_machinery_is_not_exported() -> None:
    for private in ("_wire", "_cbor", "_crypto", "chain_signature", "b64decode", "Identifier"):
        assert private not in delegation.__all__


def test_subpackage_exports_resolve() -> None:
    for module in (delegation.caveats, delegation.stores):
        assert len(set(module.__all__)) == len(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)


def test_caveats_exports_every_core_family_by_name() -> None:
    """An application or a display tool reaches each core family as ``delegation.caveats.X``."""
    for family in delegation.caveats.CORE_FAMILIES:
        assert family.__name__ in delegation.caveats.__all__, family.__name__
        assert getattr(delegation.caveats, family.__name__) is family
    assert "ApprovedFor" in delegation.caveats.__all__


def test_no_public_signature_takes_a_test_hook() -> None:
    """Reproducible randomness (nonces, seeds) is for the vector generator's private entry
    points (``token._mint``, ``approval._require_approval``), never a public parameter."""
    hooks = {"nonce", "seed", "seeds", "ephemeral"}
    for name in delegation.__all__:
        member = getattr(delegation, name)
        if not callable(member) or (isinstance(member, type) and issubclass(member, BaseException)):
            continue
        try:
            params = inspect.signature(member).parameters
        except (TypeError, ValueError):
            continue
        for param in params:
            assert not param.startswith("_"), (name, param)
            assert param not in hooks, (name, param)


PUBLIC_SUBPACKAGES = {
    "caveats": "the caveat families and the registry, the extension API for custom families",
    "errors": "the exception tree and the reason codes (also exported here)",
    "limits": "the hard limits of specs/token-format.md, for servers sizing headers and bodies",
    "stores": "the State protocol and its backends, for services that implement their own",
    "testing": "fixtures (and strategies) for tests and security engineers; not imported here",
    "cli": "the command line; not imported here",
    "http": "tool servers and agents over HTTP (the http extra); not imported here",
    "mcp": "MCP servers and agents on the official SDK (the mcp extra); not imported here",
}
"""The public modules besides the names of ``__all__``; every other module is private (``_x``)."""


def test_the_public_surface_is_all_plus_the_documented_subpackages() -> None:
    # A fresh interpreter, so what other tests imported does not show up as attributes.
    code = "import delegation; print(' '.join(n for n in dir(delegation) if n[0] != '_'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    public = set(out.stdout.split())
    assert public - set(delegation.__all__) <= set(PUBLIC_SUBPACKAGES)
    assert set(delegation.__all__) - {"__version__"} <= public
    package = Path(delegation.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} | {
        p.name for p in package.iterdir() if (p / "__init__.py").exists()
    }
    assert {m for m in modules if not m.startswith("_")} == set(PUBLIC_SUBPACKAGES)
