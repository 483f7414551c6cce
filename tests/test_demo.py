"""The quick demo end to end: every report file exists and is well formed."""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import torch

from semisupcon_recipe.demo.models import clip_id_labels
from semisupcon_recipe.demo.run import add_arguments, settings_from_arguments
from semisupcon_recipe.manifest import read_manifest, write_manifest
from semisupcon_recipe.objectives import target_matrix


REPO = Path(__file__).resolve().parents[1]


def final_encoder(run: Path) -> dict:
    """The encoder weights of a run's newest checkpoint."""
    newest = max((run / "save").glob("CKPT+*"), key=lambda folder: folder.stat().st_mtime)
    return torch.load(newest / "encoder.ckpt", weights_only=True)


def test_demo_options_override_the_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    chosen = settings_from_arguments(parser.parse_args(["--labeled-share", "0.5", "--temperature", "0.1", "--seeds", "3"]))
    assert (chosen.labeled_share, chosen.temperature, chosen.seeds) == (0.5, 0.1, (3,))
    default = settings_from_arguments(parser.parse_args([]))
    assert (default.labeled_share, default.temperature, default.seeds) == (0.25, 0.2, (0, 1, 2))


@pytest.mark.slow
def test_quick_demo_writes_a_well_formed_report(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    tasks = {row["task"]: row for row in results["table"]}
    assert set(tasks) == {"key", "mode", "tempo", "instruments"} and tasks["key"]["supervised"]
    assert results["baselines"] == ["handcrafted", "random"]
    for row in tasks.values():
        for model in ("handcrafted", "random", "ssl", "semisupcon"):
            assert 0.0 <= row[model]["mean"] <= 1.0 and len(row[model]["per_seed"]) == 1
        assert row["difference"] == pytest.approx(row["semisupcon"]["mean"] - row["ssl"]["mean"])
        assert row["paired"]["reading"] == "within seed spread"  # one seed: no interval, never "higher"

    report = (out / "report.md").read_text()
    assert "| model | **key** (supervised), accuracy | mode, accuracy | tempo, accuracy | instruments, roc_auc |" in report
    for title in ("MFCC + chroma + contrast (no training)", "x-vector TDNN, random init", "SSL-only", "SemiSupCon"):
        assert re.search(rf"^\| {re.escape(title)} \|( \d+\.\d \|){{4}}$", report, re.M), title
    assert "| probe task | metric | SemiSupCon - SSL-only, per seed | mean | 95 % interval" in report
    # The random-init baseline is the SSL-only run's encoder before training: same description, other weights.
    assert (out / "models" / "random" / "0" / "encoder_spec.yaml").read_text() == (out / "models" / "ssl" / "0" / "encoder_spec.yaml").read_text()
    assert any(not torch.equal(final_encoder(out / "models" / "random" / "0")[name], value)
               for name, value in final_encoder(out / "models" / "ssl" / "0").items())

    # Diagnostics: label-derived positives, draws of the 12 labeled clips (2 steps x 2 labeled clips), memorisation probe.
    diagnostics = results["diagnostics"]
    assert diagnostics["semisupcon"]["0"]["draws"]["labeled_clips"] == 12 and diagnostics["semisupcon"]["0"]["draws"]["max"] >= 1
    assert "draws" not in diagnostics["ssl"]["0"] and diagnostics["ssl"]["0"]["positives"]["label_share_per_batch"] == 0.0
    for model in ("handcrafted", "random", "ssl", "semisupcon"):
        gap = diagnostics[model]["0"]["memorisation"]
        assert gap["gap"] == pytest.approx(gap["labeled_clips"] - gap["held_out"])
    assert "## Supervision diagnostics" in report and "draws per labeled clip (min / median / max)" in report
    assert "pretrainings with 1 torch thread each" in report and "use_deterministic_algorithms: True" in report
    assert "semisupcon demo --quick" in report and "## Commands" in report
    for plot in ("training_curves", "target_matrix", "embedding_map"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "robustness" / "plots").glob("*.png"))
    assert json.loads((out / "robustness" / "robustness.json").read_text())
    for model, share in (("ssl", "0.0"), ("semisupcon", "0.25")):
        hyperparams = (out / "models" / model / "0" / "hyperparams.yaml").read_text()
        assert f"labeled_share: {share}" in hyperparams and "temperature: 0.2" in hyperparams

    # The report's pretraining command reproduces the demo's model (another output folder, same weights).
    (printed,) = [line for line in report.splitlines() if "train.py" in line and "/models/ssl/0" in line]
    assert (out / "models" / "ssl" / "0" / "command.txt").read_text().splitlines() == [printed]  # the run records it too
    words = shlex.split(printed)
    environment = dict(os.environ, **dict(word.split("=", 1) for word in words[: words.index("python")]))
    words = words[words.index("python"):]
    words = [sys.executable, *(word.replace(str(out / "models"), str(tmp_path / "again")) for word in words[1:])]
    rerun = subprocess.run(words, capture_output=True, text=True, timeout=1500, cwd=REPO, env=environment)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for name, value in final_encoder(out / "models" / "ssl" / "0").items():
        torch.testing.assert_close(final_encoder(tmp_path / "again" / "ssl" / "0")[name], value, rtol=0, atol=1e-6)

    # Rerunning reuses the data, the finished pretrainings and the features.
    data_stamp = (out / "data" / "dataset.json").stat().st_mtime_ns
    checkpoints = sorted(p.name for p in (out / "models").rglob("CKPT+*"))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (out / "data" / "dataset.json").stat().st_mtime_ns == data_stamp
    assert sorted(p.name for p in (out / "models").rglob("CKPT+*")) == checkpoints

    # Other pretraining settings in the same folder are refused, naming the setting and the fix.
    other = subprocess.run(command + ["--labeled-share", "0.5"], capture_output=True, text=True, timeout=1500)
    assert other.returncode == 2 and "labeled_share: 0.25 there, 0.5 asked" in other.stderr
    assert "pass another --out" in other.stderr and "Traceback" not in other.stderr


@pytest.mark.slow
def test_quick_label_control_demo_trains_semisupcon_on_clip_id_labels(tmp_path):
    out = tmp_path / "control"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--label-control", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    control = out / "models" / "semisupcon" / "labeled_control.csv"
    assert all(row["labels"] == item_id for item_id, row in read_manifest(control).items())
    hyperparams = (out / "models" / "semisupcon" / "0" / "hyperparams.yaml").read_text()
    assert re.search(r"^labeled_manifest:\s+(\S+)", hyperparams, re.M).group(1) == str(control)
    assert not (out / "models" / "ssl" / "labeled_control.csv").exists()
    assert "Control run (`--label-control`)" in (out / "report.md").read_text()


def test_label_control_gives_every_labeled_clip_its_own_label(tmp_path):
    rows = [{"ID": f"c{index}", "duration": 3, "wav": f"c{index}.wav", "labels": "C major"} for index in range(3)]
    write_manifest(tmp_path / "key.csv", rows)
    control = read_manifest(clip_id_labels(tmp_path / "key.csv", tmp_path / "control.csv"))
    labels = torch.tensor([int(row["labels"][1:]) for row in control.values()]).repeat_interleave(2)  # (6,)
    clips = torch.arange(3).repeat_interleave(2)  # (6,)
    with_control = target_matrix(clips, labels, torch.ones(6, dtype=torch.bool), supervision="multiclass")
    without_labels = target_matrix(clips, labels, torch.zeros(6, dtype=torch.bool), supervision="multiclass")
    assert torch.equal(with_control, without_labels)  # same-clip positives only, as in SSL


@pytest.mark.slow
def test_quick_demo_with_bestrq_adds_the_mixed_ssl_table(tmp_path):
    out = tmp_path / "bestrq"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--ssl-objective", "bestrq", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    for model, share, weight in (("bestrq", "0.0", "0.0"), ("bestrq_semisupcon", "0.25", "1.0")):
        hyperparams = (out / "models" / model / "0" / "hyperparams.yaml").read_text()
        assert f"labeled_share: {share}" in hyperparams and f"semisupcon_weight: {weight}" in hyperparams
        assert "ssl_weight: 1.0" in hyperparams and "ConformerEncoder" in hyperparams
    (mixed,) = json.loads((out / "results.json").read_text())["ssl_mix_tables"]
    for row in mixed:
        assert row["difference"] == pytest.approx(row["bestrq_semisupcon"]["mean"] - row["bestrq"]["mean"])
    report = (out / "report.md").read_text()
    assert "| probe task | metric | SemiSupCon - SSL-only, per seed |" in report
    assert "| probe task | metric | BEST-RQ + SemiSupCon - BEST-RQ, per seed |" in report
    assert "| Conformer, random init |" in report and "| x-vector TDNN, random init |" in report
    assert "pretrain_bestrq.yaml" in report
