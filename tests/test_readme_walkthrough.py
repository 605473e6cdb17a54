"""The README's curl walkthrough, run as written against a real `enrollpay serve` started the
way a newcomer starts it (fresh directory, embedded default, demo data). Only the port differs,
so the run never collides with a server already on 8000."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
README_URL = "http://127.0.0.1:8000"


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    try_it = text[text.index("## Try it") : text.index("## The built-in Razorpay sandbox")]
    blocks = re.findall(r"```bash\n(.*?)```", try_it, flags=re.S)
    assert len(blocks) == 2, "Try it should hold the catalog walkthrough and the payment one"
    return "set -euo pipefail\n" + "\n".join(blocks)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    enrollpay = str(Path(sys.executable).with_name("enrollpay"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RAZORPAY_", "DATABASE_URL", "SECRET_KEY", "EMBEDDED_WORKER"))
    }
    env["PUBLIC_BASE_URL"] = url
    subprocess.run([enrollpay, "seed-demo"], cwd=tmp_path, env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [enrollpay, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_readme_walkthrough_runs_as_written(server: str, tmp_path: Path) -> None:
    script = _walkthrough().replace(README_URL, server)
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    # The paid course through verify, the free course at once, the cohort through a failure,
    # a retry and the webhook alone.
    assert '"total_payable":3184.94' in out and '"amount":318494' in out
    assert '"has_access":true' in out
    assert '"status":"enrolled","payment_required":false' in out
    assert '"enrollment_status":"failed"' in out and '"retry_allowed":true' in out
    assert out.count('"enrollment_status":"enrolled","payment_status":"completed"') == 2
