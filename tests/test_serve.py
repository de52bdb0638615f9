"""``opdash serve`` as a real server process: it answers, binds loopback, and explains a busy port."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

from tests.servers import DEMO, free_port, opdash_serve


def test_serve_answers_on_loopback_with_the_dashboard_page():
    with opdash_serve(DEMO) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200
        assert "opdash" in page and "bokeh" in page.lower()


def test_a_busy_port_ends_with_one_clear_line():
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "opdash.cli", "serve", str(DEMO), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"opdash serve: error: port {port} on 127.0.0.1 is already in use; pick another with --port"
    ]
