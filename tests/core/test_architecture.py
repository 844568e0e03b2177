"""Dependencies run one way (docs/architecture.md): the contracts in ``.importlinter``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def test_the_import_contracts_hold() -> None:
    # A process of its own: import-linter reconfigures logging, which other tests capture.
    run = subprocess.run(
        [LINT_IMPORTS, "--config", ".importlinter", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
