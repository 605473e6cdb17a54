"""How heavy the learner's pages are and how fast they show on a throttled phone.

Starts `enrollpay seed-demo` + `enrollpay serve` in a temporary directory (the embedded
default), then loads each main page in Debian's Chromium at 360x740 with the network slowed to
a "slow 4G" profile and the CPU slowed 4x, first with an empty cache and again warm (HTTP cache
cache). Prints, per page: requests, bytes transferred (headers included), first
contentful paint and the load event, in ms.

    .venv/bin/python bench/web_pages.py [--runs 3]

Needs the dev dependencies (Playwright) and /usr/bin/chromium (or CHROMIUM_PATH).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Chrome DevTools' "Slow 4G": 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up.
SLOW_4G = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}
CPU_SLOWDOWN = 4
DEMO_LEARNER = ("learner@demo.enrollpay.dev", "demo-learner-pass")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def demo_server() -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    enrollpay = str(Path(sys.executable).with_name("enrollpay"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAZORPAY_", "DATABASE_URL"))}
    env["PUBLIC_BASE_URL"] = url
    env["LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryDirectory() as workdir:
        subprocess.run(
            [enrollpay, "seed-demo"], cwd=workdir, env=env, check=True, capture_output=True
        )
        server = subprocess.Popen(
            [enrollpay, "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("enrollpay serve did not start")
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def measure(page: Page, cdp: Any, url: str) -> dict[str, float]:
    """Loads `url`; what came over the network (as DevTools counts it) and when it showed."""
    transferred = {"requests": 0.0, "bytes": 0.0}
    from_cache: set[str] = set()

    def on_cached(event: dict[str, Any]) -> None:
        from_cache.add(event["requestId"])

    def on_finished(event: dict[str, Any]) -> None:
        if event["requestId"] not in from_cache:
            transferred["requests"] += 1
            transferred["bytes"] += event["encodedDataLength"]

    cdp.on("Network.requestServedFromCache", on_cached)
    cdp.on("Network.loadingFinished", on_finished)
    page.goto(url, wait_until="load")
    # First contentful paint may be reported just after the load event on a slow CPU.
    timing: dict[str, float] = page.evaluate(
        """() => new Promise((resolve) => {
          const load = performance.getEntriesByType("navigation")[0].loadEventEnd;
          new PerformanceObserver((list) => {
            const paint = list.getEntriesByName("first-contentful-paint")[0];
            if (paint) resolve({fcp: paint.startTime, load});
          }).observe({type: "paint", buffered: true});
          setTimeout(() => resolve({fcp: NaN, load}), 5000);
        })"""
    )
    cdp.remove_listener("Network.requestServedFromCache", on_cached)
    cdp.remove_listener("Network.loadingFinished", on_finished)
    return {**transferred, **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold+warm loads per page (median)")
    args = parser.parse_args()

    with demo_server() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=["--no-sandbox", "--disable-gpu"]
        )
        courses = httpx.get(f"{base}/api/v1/courses").json()["items"]
        course_id = next(c["id"] for c in courses if c["title"] == "Full Stack Development")
        pages = [
            ("catalog", "/", False),
            ("course", f"/courses/{course_id}", False),
            ("login", "/login", False),
            ("my courses", "/my/courses", True),
            ("account", "/account", True),
        ]
        print(f"{'page':<12} {'cache':<5} {'requests':>8} {'KB':>7} {'FCP ms':>8} {'load ms':>8}")
        for name, path, signed_in in pages:
            rows: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
            for _ in range(args.runs):
                # Without the service worker: a first visit has none yet, and its cache would
                # hide the warm load's requests from DevTools' counts.
                context = browser.new_context(
                    viewport={"width": 360, "height": 740},
                    is_mobile=True,
                    has_touch=True,
                    service_workers="block",
                )
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                if signed_in:
                    page.goto(f"{base}/login")
                    page.get_by_label("Email").fill(DEMO_LEARNER[0])
                    page.get_by_label("Password").fill(DEMO_LEARNER[1])
                    page.get_by_role("button", name="Log in").click()
                    page.wait_for_url(f"{base}/")
                    cdp.send("Network.clearBrowserCache")
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", SLOW_4G)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
                rows["cold"].append(measure(page, cdp, base + path))
                rows["warm"].append(measure(page, cdp, base + path))
                context.close()
            for cache, runs in rows.items():
                median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
                print(
                    f"{name:<12} {cache:<5} {median['requests']:>8.0f} "
                    f"{median['bytes'] / 1024:>7.1f} {median['fcp']:>8.0f} {median['load']:>8.0f}"
                )
        browser.close()
    print(
        f"\nslow 4G ({SLOW_4G['latency']} ms RTT, 1.6 Mbit/s), CPU {CPU_SLOWDOWN}x slower, "
        f"360x740, median of {args.runs}"
    )


if __name__ == "__main__":
    main()
