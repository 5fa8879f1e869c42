"""Copy the console's pinned front-end files from npm into the Python package.

Run `python web/vendor.py` after changing web/package.json (it runs `npm ci`, which checks every
tarball against the integrity hash in package-lock.json). The copies are committed, so installing
or serving Footfall needs no npm; web/MANIFEST.json records each copy's version, lock integrity and
SHA-256, and tests/test_console_vendor.py checks the committed files against it and the lock file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parent
VENDOR = WEB.parent / "footfall" / "web" / "static" / "vendor"
# package -> files to copy (path inside the package -> name under footfall/web/static/vendor/)
FILES = {
    "uplot": {"dist/uPlot.iife.min.js": "uPlot.iife.min.js", "dist/uPlot.min.css": "uPlot.min.css"},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=WEB, check=True)
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    VENDOR.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    for package, files in FILES.items():
        entry = lock[f"node_modules/{package}"]
        copied = {}
        for source, target in files.items():
            shutil.copyfile(WEB / "node_modules" / package / source, VENDOR / target)
            copied[target] = sha256(VENDOR / target)
        manifest[package] = {"version": entry["version"], "integrity": entry["integrity"], "files": copied}
    (WEB / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print("vendored", ", ".join(p + ' ' + m['version'] for p, m in manifest.items()), "into", VENDOR)


if __name__ == "__main__":
    main()
