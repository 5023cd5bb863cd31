"""`make audit`: known vulnerabilities in the locked versions (requirements/*.txt), with pip-audit.

    .venv/bin/python requirements/audit.py [--service pypi|osv] [LOCK ...]

It reads the pins and hashes of each lock (no resolving, nothing installed) and asks the vulnerability
service about each version. Exit 1 when a locked version has a known vulnerability. When the service
cannot be reached, or answers about none of the packages (a mirror that serves packages but not their
advisory data), it says so and exits 0: an audit that could not run is reported, never passed off as clean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCKS = ("serve.txt", "test.txt", "train.txt")
UNREACHABLE_HINTS = ("ConnectionError", "Max retries exceeded", "NameResolutionError", "Failed to establish",
                     "Temporary failure in name resolution", "timed out", "Network is unreachable")


@dataclass
class Outcome:
    lock: str
    audited: int = 0
    skipped: int = 0
    vulnerable: list[str] = field(default_factory=list)
    unreachable: str = ""  # why nothing could be audited, when nothing could


def classify(lock: str, returncode: int, stdout: str, stderr: str) -> Outcome:
    """What one pip-audit run (`-f json`) found."""
    outcome = Outcome(lock)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        if any(hint in stderr for hint in UNREACHABLE_HINTS):
            outcome.unreachable = "the vulnerability service cannot be reached"
            return outcome
        raise RuntimeError(f"pip-audit failed on {lock} (exit {returncode}):\n{stderr[-2000:]}") from None
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            outcome.skipped += 1
            continue
        outcome.audited += 1
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            outcome.vulnerable.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    if outcome.audited == 0 and outcome.skipped:
        outcome.unreachable = "the vulnerability service knows none of the locked packages (no advisory data here)"
    return outcome


def audit(lock: Path, service: str) -> Outcome:
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(lock), "--disable-pip", "-f", "json",
           "--progress-spinner", "off", "-s", service]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return classify(lock.name, proc.returncode, proc.stdout, proc.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="pypi", choices=("pypi", "osv"), help="pip-audit's vulnerability service")
    parser.add_argument("locks", nargs="*", type=Path, default=[HERE / name for name in LOCKS])
    args = parser.parse_args(argv)
    status = 0
    for lock in args.locks:
        outcome = audit(lock, args.service)
        if outcome.unreachable:
            print(f"{outcome.lock}: audit skipped: {outcome.unreachable} ({args.service})")
            continue
        print(f"{outcome.lock}: {outcome.audited} packages audited, {outcome.skipped} not known to {args.service}, "
              f"{len(outcome.vulnerable)} known vulnerabilities")
        for line in outcome.vulnerable:
            print(f"  {line}")
        if outcome.vulnerable:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
