"""docs/platform-integration.md, run as written against a real `enrollpay serve` with the demo
data: its bash steps in order, its `receiver.py` as the platform's webhook endpoint, and its
Node.js verifier on the delivery the receiver kept. Only the ports differ."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_readme_walkthrough import README_URL, server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "platform-integration.md"
RECEIVER_PORT = "9000"
IN_CI = os.environ.get("CI") == "true"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_platform_guide_runs_as_written(server: str, tmp_path: Path) -> None:  # noqa: F811
    port = str(free_port())
    [receiver] = [block for block in _blocks("python") if "HTTPServer" in block]
    (tmp_path / "receiver.py").write_text(receiver.replace(RECEIVER_PORT, port))
    # Plus one line of the test's own: the webhook secret, for the Node.js check below.
    script = "\n".join(
        ["set -euo pipefail", *_blocks("bash"), 'echo "$WEBHOOK_SECRET" > secret.txt']
    )
    script = script.replace(README_URL, server).replace(
        f"127.0.0.1:{RECEIVER_PORT}", f"127.0.0.1:{port}"
    )
    # The guide's python3 is one with PyJWT, as a platform's would be: this environment's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    assert '"email":"asha@example.com"' in out  # signed on: the learner exists
    assert '"external_id":"py-101"' in out
    assert '"status":"pending"' in out and '"payment_url":"' in out
    assert "verified enrollment.enrolled msg_" in out
    assert '"enrollment_status":"enrolled","payment_status":"completed"' in out
    assert '"has_access":true' in out and '"course_progress":40' in out
    assert "refused" not in out

    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [event["type"] for event in events] == ["enrollment.enrolled"]
    data = events[0]["data"]
    assert (data["user_external_id"], data["course_external_id"]) == ("lms-user-42", "py-101")
    assert data["total_payable"] == 5898.82

    _verify_with_node(tmp_path)


def _verify_with_node(tmp_path: Path) -> None:
    """The guide's JavaScript verifier accepts the real delivery and refuses a changed body."""
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is needed to check the guide's JavaScript sample", pytrace=False)
        pytest.skip("node is not installed")
    [verifier] = _blocks("js")
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", (tmp_path / "secret.txt").read_text())
    assert secret is not None
    harness = verifier + (
        "\nconst fs = require('node:fs');"
        "\nconst delivery = JSON.parse(fs.readFileSync('last-delivery.json', 'utf8'));"
        "\nconst headers = Object.fromEntries("
        "Object.entries(delivery.headers).map(([k, v]) => [k.toLowerCase(), v]));"
        f"\nconst event = verifyWebhook({json.dumps(secret.group(0))}, headers, delivery.body);"
        "\nconsole.log('node verified', event.type);"
        "\ntry { verifyWebhook("
        f"{json.dumps(secret.group(0))}, headers, delivery.body + ' '); }}"
        "\ncatch (error) { console.log('node refused', error.message); }"
    )
    (tmp_path / "verify.js").write_text(harness)
    result = subprocess.run(
        [node, "verify.js"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "node verified enrollment.enrolled",
        "node refused no valid signature",
    ]
