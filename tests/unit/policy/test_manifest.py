"""A policy set named by one file (``delegation/policy/_manifest.py``): a ``.cedar`` or
``.rego`` file or a TOML manifest; the manifest is read again on every reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from delegation.policy import PolicyFailure, PolicyLoadError, PolicyUnavailable, load_policy
from delegation.policy._manifest import read_manifest
from delegation.policy._model import example_input
from delegation.policy.cedar import CedarPolicy
from delegation.policy.rego import RegoPolicy

PERMIT = '@id("base") permit (principal, action, resource);\n'
DENY_DEEP = (
    'package delegation\nimport rego.v1\ndeny contains "deep" if { input.context.depth > 0 }\n'
)


def write(path: Path, text: str) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def test_a_single_file_picks_its_engine_by_name(tmp_path: Path) -> None:
    cedar = load_policy(write(tmp_path / "p.cedar", PERMIT))
    rego = load_policy(write(tmp_path / "p.rego", DENY_DEEP))
    assert isinstance(cedar, CedarPolicy)
    assert isinstance(rego, RegoPolicy)
    assert cedar.evaluate(example_input()).allowed
    assert rego.evaluate(example_input()).policy_ids == ("deep",)
    rego.close()
    with pytest.raises(PolicyLoadError, match=r"\.cedar, \.rego or a \.toml"):
        load_policy(write(tmp_path / "p.txt", PERMIT))
    with pytest.raises(PolicyLoadError, match="cannot read"):
        load_policy(tmp_path / "missing.cedar")


def test_a_manifest_names_files_args_entities_and_options(tmp_path: Path) -> None:
    write(tmp_path / "base.cedar", PERMIT)
    rule = "context.args has limit && context.args.limit > 5"
    write(
        tmp_path / "limit.cedar",
        f'@id("limit") forbid (principal, action, resource) when {{ {rule} }};',
    )
    write(tmp_path / "groups.json", "[]")
    manifest = write(
        tmp_path / "policy.toml",
        'engine = "cedar"\npolicies = ["base.cedar", "limit.cedar"]\nentities = "groups.json"\n'
        'actions = ["read"]\ntimeout = 0.5\n[args]\nlimit = "Long"\n',
    )
    policy = load_policy(manifest, reload_interval=None)
    assert policy.evaluate(example_input()).policy_ids == ("limit",)
    assert isinstance(policy, CedarPolicy)
    assert policy._timeout == 0.5


def test_a_manifest_is_read_again_on_reload(tmp_path: Path) -> None:
    write(tmp_path / "a.rego", DENY_DEEP)
    write(tmp_path / "b.rego", DENY_DEEP.replace('"deep"', '"also"'))
    manifest = write(tmp_path / "policy.toml", 'engine = "rego"\npolicies = ["a.rego"]\n')
    policy = load_policy(manifest, reload_interval=None)
    assert isinstance(policy, RegoPolicy)
    assert policy.evaluate(example_input()).policy_ids == ("deep",)
    write(manifest, 'engine = "rego"\npolicies = ["a.rego", "b.rego"]\nworkers = 2\n')
    assert policy.reload()
    assert policy.evaluate(example_input()).policy_ids == ("also", "deep")
    write(manifest, 'engine = "cedar"\npolicies = ["a.rego"]\n')
    policy.reload()
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(example_input())
    assert caught.value.reason is PolicyFailure.UNPARSEABLE
    policy.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine = ", "not TOML"),
        ('engine = "opa"\npolicies = ["a"]', "engine is one of"),
        ('engine = "cedar"', "non-empty list"),
        ('engine = "cedar"\npolicies = []', "non-empty list"),
        ('engine = "cedar"\npolicies = [1]', "non-empty list"),
        ('engine = "cedar"\npolicies = ["a"]\ndata = "d.json"', "unknown keys"),
        ('engine = "rego"\npolicies = ["a"]\nentities = "e.json"', "unknown keys"),
        ('engine = "rego"\npolicies = ["a"]\ndata = 3', "file name"),
        ('engine = "cedar"\npolicies = ["a"]\n[args]\nx = 1', "Cedar types"),
        ('engine = "cedar"\npolicies = ["a"]\nactions = "read"', "list of action"),
        ('engine = "cedar"\npolicies = ["a"]\ntimeout = 0', "timeout"),
        ('engine = "cedar"\npolicies = ["a"]\ntimeout = true', "timeout"),
        ('engine = "rego"\npolicies = ["a"]\nworkers = 0', "workers"),
    ],
)
def test_a_manifest_that_does_not_load(text: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        read_manifest(text)


def test_the_core_library_imports_no_engine() -> None:
    code = (
        "import sys, delegation, delegation.policy, delegation.cli.main\n"
        "from delegation import Verifier\n"
        "print(sorted(m for m in ('cedarpy', 'regopy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_engine_is_a_load_error_naming_its_extra(tmp_path: Path) -> None:
    path = write(tmp_path / "p.cedar", PERMIT)
    code = (
        "import sys\nsys.modules['cedarpy'] = None\n"
        "from delegation.policy import load_policy, PolicyLoadError\n"
        f"try:\n    load_policy({str(path)!r})\nexcept PolicyLoadError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'delegation[cedar]'" in out.stdout
