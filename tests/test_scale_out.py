"""bench/scale_out.py at a small size: 3 `serve` replicas and 2 `worker` processes on one
PostgreSQL, learners paying (and failing, retrying, refunding) through all of them, every
webhook delivered again to every replica; then every money promise holds and nothing answered
5xx. The full size is the script itself (README, "Scale-out")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import sibling_database

SCRIPT = Path(__file__).parent.parent / "bench" / "scale_out.py"


@pytest.mark.postgresql_only
def test_three_replicas_and_two_workers_keep_every_promise(backend):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--database-url",
            sibling_database(os.environ["TEST_DATABASE_URL"], "scale"),
            "--learners",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    assert "3 serve replicas + 2 workers, pool 5 each" in result.stdout
    assert "webhook again 200" in result.stdout  # duplicates reached the replicas, answered 2xx
