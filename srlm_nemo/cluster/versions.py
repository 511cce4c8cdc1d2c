"""What an image holds, checked against what we built it for.

  python -m srlm_nemo.cluster.versions --expect containers/versions.train.json [--write FILE]

Exits 1 naming every package whose installed version differs from `expect` (or is missing);
records `record` packages as found. The container builds run it, so an image that drifted from
its pins never reaches a cluster."""
from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def installed(name: str) -> str | None:
    for candidate in (name, name.replace("-", "_")):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return None


def check(spec: dict) -> tuple[dict, list[str]]:
    found, problems = {}, []
    for name, want in spec.get("expect", {}).items():
        have = installed(name)
        found[name] = have
        # a base image may carry a local suffix (2.1.0+nv24.12); the release must match
        if have is None or have.split("+")[0] != want:
            problems.append(f"{name}: expected {want}, found {have or 'not installed'}")
    for name in spec.get("record", []):
        found[name] = installed(name)
    return found, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expect", required=True, help="JSON with `expect` {package: version} and `record` [package]")
    ap.add_argument("--write", help="write what was found here (JSON)")
    a = ap.parse_args(argv)
    spec = json.loads(Path(a.expect).read_text())
    found, problems = check(spec)
    if a.write:
        Path(a.write).parent.mkdir(parents=True, exist_ok=True)
        Path(a.write).write_text(json.dumps({"image": spec.get("image"), "versions": found}, indent=2) + "\n")
    for name, v in found.items():
        print(f"{name:20s} {v or '-'}")
    if problems:
        print(
            f"{a.expect}: the image does not hold what it was built for:\n  " + "\n  ".join(problems), file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
