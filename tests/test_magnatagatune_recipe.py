"""The paper-setting recipe (MagnaTagATune + FMA) end to end on tiny copies of both layouts."""

import subprocess
import sys
from pathlib import Path

import pytest

from prepare.fixtures_fma import build_fma
from prepare.fixtures_magnatagatune import build_magnatagatune

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "MagnaTagATune" / "pretrain"

pytestmark = pytest.mark.slow

TINY = [
    "--sample_rate=16000", "--clip_len=1000", "--batch_size=4", "--number_of_epochs=1", "--batches_per_epoch=2",
    "--valid_batches=1", "--num_workers=0", "--pin_memory=False", "--labeled_data_fraction=0.5", "--device=cpu",
    "--encoder_block={channels: [8, 8, 16], embedding_dim: 16, projection_hidden: 16, projection_dim: 8}",
]


@pytest.mark.parametrize("mode", ["semisupcon", "ssl", "supervised"])
def test_prepares_manifests_and_pretrains(tmp_path, mode):
    build_magnatagatune(tmp_path / "mtat")
    build_fma(tmp_path / "fma")
    output = tmp_path / "run"
    command = [
        sys.executable, str(RECIPE / "train.py"), str(RECIPE / "hparams" / f"{mode}.yaml"),
        f"--data_folder={tmp_path / 'mtat'}", f"--fma_folder={tmp_path / 'fma'}",
        f"--manifest_folder={tmp_path / 'manifests'}", f"--output_folder={output}", *TINY,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=800)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "manifests" / "train_top50.csv").is_file()
    assert (tmp_path / "manifests" / "unlabeled.csv").is_file() == (mode != "supervised")
    log = (output / "train_log.txt").read_text()
    assert "valid loss" in log and "optimizer_step: 2" in log
    assert list((output / "save").glob("CKPT+*/encoder.ckpt"))
    kept = (output / "labeled_subset.txt").read_text().split()
    assert (len(kept) > 0) == (mode != "ssl")
