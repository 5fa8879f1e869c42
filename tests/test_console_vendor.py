"""The console's vendored front-end files are exactly the ones the lock file pins.

web/vendor.py copies them out of `npm ci` (which checks each tarball against package-lock.json's
integrity hash) and records, per package, the locked version and integrity and each copy's SHA-256
in web/MANIFEST.json. Here: the manifest agrees with the lock file and with package.json's exact
pins, and every committed copy still has the recorded hash (an edited or swapped file fails).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
VENDOR = ROOT / "footfall" / "web" / "static" / "vendor"


def test_committed_vendor_files_match_the_lock_file():
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    pins = json.loads((WEB / "package.json").read_text())["dependencies"]
    manifest = json.loads((WEB / "MANIFEST.json").read_text())
    assert set(manifest) == set(pins)
    listed = set()
    for package, entry in manifest.items():
        locked = lock[f"node_modules/{package}"]
        assert pins[package] == locked["version"] == entry["version"], package  # exact pins only
        assert entry["integrity"] == locked["integrity"], package
        for name, digest in entry["files"].items():
            assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
            listed.add(name)
    assert {p.name for p in VENDOR.iterdir()} == listed  # nothing unvendored sits beside them


def test_the_pages_load_only_vendored_or_own_scripts():
    templates = ROOT / "footfall" / "web" / "templates"
    for path in templates.glob("*.html"):
        text = path.read_text()
        assert "<script>" not in text and " style=" not in text and "://" not in text, path.name
