"""The house rules a newcomer relies on: importing any module creates nothing and changes no environment variable,
and the layers hold (`lint-imports` in CI; here only what a test can add: no module reads a workspace it was not
given)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_ALL = """
import importlib, json, os, pkgutil, sys
for library in ("pandas", "pyarrow", "pandera", "dagster", "django", "duckdb"):  # they set variables of their own
    importlib.import_module(library)
before = dict(os.environ)
skipped = []
for package in ("pipeline", "contracts", "warehouse", "samples", "cabinet"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # Django models and views need apps set up first
            if type(exc).__name__ not in ("AppRegistryNotReady", "ImproperlyConfigured"):
                raise
            skipped.append(info.name)
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
print(json.dumps({"changed": changed, "skipped": skipped}))
"""


def test_importing_any_module_creates_nothing_and_sets_no_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SVOD_", "DJANGO_", "DAGSTER_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "cabinet.served_settings",
        "SVOD_SECRET_KEY": "test",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["changed"] == [], found
    assert list(tmp_path.iterdir()) == [], "an import created files in the working folder"
