"""The README's first two commands are the contract: run the service, run the tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _code_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    blocks = _code_blocks((ROOT / "README.md").read_text())
    serve, test = blocks[0], blocks[1]
    assert serve.endswith("enrollpay serve") and "seed-demo" in serve and ".venv" in serve
    assert test.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()
