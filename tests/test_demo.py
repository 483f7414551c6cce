"""The quick demo end to end: every report file exists and is well formed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_quick_demo_writes_a_well_formed_report(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    tasks = {row["task"]: row for row in results["table"]}
    assert set(tasks) == {"key", "mode", "tempo", "instruments"} and tasks["key"]["supervised"]
    for row in tasks.values():
        for model in ("ssl", "semisupcon"):
            assert 0.0 <= row[model]["mean"] <= 1.0 and len(row[model]["per_seed"]) == 1
        assert row["difference"] == pytest.approx(row["semisupcon"]["mean"] - row["ssl"]["mean"])

    report = (out / "report.md").read_text()
    assert "| probe task | metric | SSL-only | SemiSupCon | difference |" in report
    assert "semisupcon demo --quick" in report and "## Commands" in report
    for plot in ("training_curves", "target_matrix", "embedding_map"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "robustness" / "plots").glob("*.png"))
    assert json.loads((out / "robustness" / "robustness.json").read_text())

    # Rerunning reuses the data, the finished pretrainings and the features.
    data_stamp = (out / "data" / "dataset.json").stat().st_mtime_ns
    checkpoints = sorted(p.name for p in (out / "models").rglob("CKPT+*"))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (out / "data" / "dataset.json").stat().st_mtime_ns == data_stamp
    assert sorted(p.name for p in (out / "models").rglob("CKPT+*")) == checkpoints
