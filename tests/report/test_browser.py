"""The report in a real browser: headless Chromium loads it without errors and shows every section.

Skipped with the reason where no Chromium is installed (``.ci/run`` installs Debian's).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from upsell.report import SECTIONS

pytest.importorskip("matplotlib")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    pytest.skip("no Chromium: install Debian's `chromium` package (.ci/run does)")


def _run(browser: str, page: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           *extra, f"file://{page}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_chromium(full_analysis, tmp_path):
    browser = _chromium()
    page = tmp_path / "report.html"
    full_analysis.save_html(page)
    done = _run(browser, str(page), tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.rstrip().endswith("</html>")
    for name, title in SECTIONS.items():
        assert f'data-section="{name}"' in dom, name
        assert title in dom, title
    assert 'class="failed"' not in dom
    assert dom.count("<svg") >= 6
    # the markup in product names stayed text: no element was made of it
    assert "<script>alert(1)</script>" not in dom and "&lt;script&gt;" in dom
    errors = [ln for ln in done.stderr.splitlines()
              if "CONSOLE" in ln or "Uncaught" in ln or "net::ERR" in ln]
    assert errors == []


def test_report_screenshot(full_analysis, tmp_path):
    browser = _chromium()
    page = tmp_path / "report.html"
    full_analysis.save_html(page)
    shot = tmp_path / "shot.png"
    done = _run(browser, str(page), tmp_path, f"--screenshot={shot}", "--window-size=1200,2400",
                "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
