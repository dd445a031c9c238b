"""Issue 31, item 9: docs/several-machines.md's one-box cluster (``scripts/one-box``) starts,
is checked and stops, on PostgreSQL, each part with its log; and nothing is left running."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgresql"])
def test_the_one_box_cluster_starts_is_checked_and_stops(db_url, tmp_path):
    env = {
        **os.environ,
        "OFFLOAD_CONSOLE_DB": db_url,
        "ONE_BOX_DIR": str(tmp_path / "one-box"),
        "ONE_BOX_NO_DEMO": "1",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        **{
            name: str(free_port())
            for name in (
                "SANDBOX_PORT",
                "SIDECAR_A_PORT",
                "SIDECAR_B_PORT",
                "DASHBOARD_A_PORT",
                "DASHBOARD_B_PORT",
            )
        },
    }

    def one_box(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "scripts/one-box", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )

    pids = []
    try:
        started = one_box("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "up to date" in started.stdout  # migrated
        pids = [int(p.read_text()) for p in (tmp_path / "one-box").glob("*.pid")]
        assert len(pids) == 5
        checked = one_box("check")
        assert checked.returncode == 0, checked.stdout
        assert checked.stdout.count("ok ") == 5
        for part in ("sandbox", "sidecar-a", "sidecar-b", "dashboard-a", "dashboard-b"):
            assert (tmp_path / "one-box" / f"{part}.log").exists()
    finally:
        stopped = one_box("stop")
    assert stopped.returncode == 0, stopped.stderr
    for pid in pids:  # every part ended, none left behind
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    after = one_box("check")
    assert after.returncode == 1 and after.stdout.count("DOWN") == 5
