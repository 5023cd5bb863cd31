"""The lock files (requirements/*.txt) match pyproject.toml, and `make audit` tells a clean audit from one
that could not run. Offline: nothing here asks a registry or a vulnerability service."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {  # lock file -> the extras of pyproject.toml it covers (with the dependencies)
    "serve.txt": (),
    "test.txt": ("dev", "safety-train", "train"),
    "train.txt": ("train",),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in lock.read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = canonicalize_name(m.group(1))
            found[current] = (m.group(2), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return found


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_locked_at_a_version_that_fits_with_its_hashes(lock: str) -> None:
    locked = pins(ROOT / "requirements" / lock)
    assert locked, lock
    for req in wanted(LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in pyproject.toml but not in requirements/{lock}: bash requirements/lock.sh"
        version, _ = locked[name]
        assert req.specifier.contains(version, prereleases=True), f"{lock}: {req.name}=={version} does not fit {req}"
    for name, (version, hashes) in locked.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{lock}: {name}=={version} has no hash"


def test_the_locks_that_carry_torch_carry_its_cpu_build() -> None:
    for lock in ("test.txt", "train.txt"):
        locked = pins(ROOT / "requirements" / lock)
        assert locked["torch"][0].endswith("+cpu")
        assert not [name for name in locked if name.startswith("nvidia-")], lock


# -- make audit -------------------------------------------------------------------------------------------
def _audit_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kidchat_audit", ROOT / "requirements" / "audit.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def report(*deps: dict) -> str:
    return json.dumps({"dependencies": list(deps), "fixes": []})


def test_the_audit_reports_a_known_vulnerability_and_fails() -> None:
    audit = _audit_module()
    out = audit.classify("serve.txt", 1, report(
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]},
        {"name": "click", "version": "8.1.7", "vulns": []},
        {"name": "odd", "skip_reason": "Dependency not found on PyPI"},
    ), "")
    assert (out.audited, out.skipped, out.unreachable) == (2, 1, "")
    assert out.vulnerable == ["jinja2 2.10: PYSEC-2019-217 (fixed in 2.10.1)"]


def test_an_audit_that_could_not_run_says_so_and_is_not_called_clean(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    audit = _audit_module()
    offline = audit.classify("serve.txt", 1, "", "requests.exceptions.ConnectionError: Max retries exceeded")
    assert offline.unreachable and not offline.vulnerable
    no_data = audit.classify("serve.txt", 0, report({"name": "click", "skip_reason": "Dependency not found on PyPI"}), "")
    assert no_data.unreachable and no_data.audited == 0
    with pytest.raises(RuntimeError):
        audit.classify("serve.txt", 2, "", "usage: pip-audit: error: unrecognized arguments")

    monkeypatch.setattr(audit, "audit", lambda lock, service: offline)
    assert audit.main(["requirements/serve.txt"]) == 0
    assert "audit skipped" in capsys.readouterr().out
    vulnerable = audit.Outcome("serve.txt", audited=1, vulnerable=["x 1.0: PYSEC-1 (fixed in 1.1)"])
    monkeypatch.setattr(audit, "audit", lambda lock, service: vulnerable)
    assert audit.main(["requirements/serve.txt"]) == 1
