"""bench/gpu_step_bench.py runs end to end at tiny sizes on CPU (the GPU run is the same code)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_step_bench_prints_one_json_line_per_setting_and_ratios_to_fp32_eager():
    command = [sys.executable, str(ROOT / "bench" / "gpu_step_bench.py"), "--tiny", "--device", "cpu",
               "--configs", "bf16-eager", "bf16-eager-cudnnbench-x2batch"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [row["config"] for row in rows] == ["fp32-eager", "bf16-eager", "bf16-eager-cudnnbench-x2batch"]
    assert all(row["clips_per_s"] > 0 and row["flop_per_step"] > 0 for row in rows)
    assert rows[2]["batch_clips"] == 2 * rows[0]["batch_clips"]
    assert 1.9 < rows[2]["flop_per_step"] / rows[1]["flop_per_step"] < 2.2  # FLOPs grow with the batch
    assert "| fp32-eager | 4 |" in result.stdout and "| 1.00 |" in result.stdout
