"""The demo's compute curve (``--budgets``): budgets validated as whole epochs, each run
resumed from budget to budget and probed at each, the curve in the report."""

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from semisupcon_recipe.demo.models import trained_steps
from semisupcon_recipe.demo.run import add_arguments, settings_from_arguments
from semisupcon_recipe.demo.settings import BudgetError

REPO = Path(__file__).resolve().parents[1]


def parsed(*words):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from_arguments(parser.parse_args(list(words)))


def newest_checkpoint(run: Path) -> Path:
    return max((run / "save").glob("CKPT+*"), key=lambda folder: folder.stat().st_mtime)


def test_budgets_set_the_run_length_to_the_largest_and_are_sorted():
    settings = parsed("--budgets", "1000", "300", "3000")
    assert settings.budgets == (300, 1000, 3000) and settings.epochs == 60 and settings.batches_per_epoch == 50
    assert parsed("--quick", "--budgets", "4", "2").epochs == 2
    assert parsed().budgets == () and parsed().epochs == 6  # without --budgets: the demo as before


@pytest.mark.parametrize("budgets, message", [
    (["300", "1010"], "--budgets 1010: not a multiple of --batches-per-epoch 50 (budgets are whole epochs); pass e.g. 1000 or 1050"),
    (["30"], "--budgets 30: not a multiple of --batches-per-epoch 50 (budgets are whole epochs); pass e.g. 50"),
    (["300", "300"], "pass distinct positive optimizer step counts"),
    (["0", "300"], "pass distinct positive optimizer step counts"),
])
def test_budgets_that_are_not_whole_distinct_epochs_are_refused_naming_the_fix(budgets, message):
    with pytest.raises(BudgetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parsed("--budgets", *budgets)


def test_a_budget_error_is_a_one_line_usage_error_before_any_work(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--budgets", "2", "3", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "semisupcon demo: error: --budgets 3: not a multiple of --batches-per-epoch 2 (budgets are whole epochs); "
        "pass e.g. 2 or 4, or another --batches-per-epoch"
    )
    assert not (out / "data").exists() and not (out / "models").exists()  # nothing synthesized or trained


def test_budgets_and_epochs_cannot_both_be_given():
    with pytest.raises(SystemExit) as exit_info:
        parsed("--epochs", "6", "--budgets", "300")
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_quick_demo_with_two_budgets_resumes_each_run_and_reports_the_curve(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--budgets", "2", "4", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]

    for model in ("ssl", "semisupcon"):
        run = out / "models" / model / "0"
        # One run, resumed: the second pretraining loaded the first one's checkpoint and trained epoch 2 only.
        log = (run / "log.txt").read_text()
        assert log.count("Going into epoch 1") == 1 and log.count("Going into epoch 2") == 1
        assert log.index("Loading a checkpoint") < log.index("Going into epoch 2")
        assert [line.split(",")[0] for line in (run / "train_log.txt").read_text().splitlines()] == ["epoch: 1", "epoch: 2"]
        assert trained_steps(run) == 4
        # Each budget probed its own checkpoint, into its own folder.
        probed = [json.loads((out / "eval" / model / "0" / f"steps_{steps}" / "results.json").read_text())["encoder"]["weights"]
                  for steps in (2, 4)]
        assert probed[0] != probed[1] and probed[1] == str(newest_checkpoint(run) / "encoder.ckpt")
    assert not (out / "eval" / "ssl" / "0" / "results.json").exists()

    results = json.loads((out / "results.json").read_text())
    curve = results["compute_curve"]
    assert curve["budgets"] == [2, 4] and results["settings"]["epochs"] == 2
    (table,) = curve["tables"]
    assert table["pair"] == ["ssl", "semisupcon"]
    assert [(row["steps"], row["task"]) for row in table["rows"]] == [
        (steps, task) for steps in (2, 4) for task in ("key", "mode", "tempo", "instruments")]
    # The main table is the largest budget's.
    largest = {row["task"]: row for row in table["rows"] if row["steps"] == 4}
    for row in results["table"]:
        for model in ("ssl", "semisupcon"):
            assert row[model]["per_seed"] == largest[row["task"]][model]["per_seed"]
        assert row["paired"] == largest[row["task"]]["paired"]

    report = (out / "report.md").read_text()
    assert "## Compute curve (`--budgets`)" in report
    for steps in (2, 4):
        for task in ("**key** (supervised) | accuracy", "mode | accuracy", "tempo | accuracy", "instruments | roc_auc"):
            assert f"| {steps} | {task} | " in report, (steps, task)
    assert (out / "plots" / "compute_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "semisupcon demo --quick --budgets 2 4" in report and "--number_of_epochs=1, then 2" in report
    assert f"--out {out}/eval/MODEL/S/steps_N" in report

    # The printed commands reproduce the curve's run: the pretraining command run with --number_of_epochs=1,
    # then as printed (2), into another folder, gives the demo's weights; a straight 2-epoch run gives
    # them up to float rounding (a resumed epoch draws what an uninterrupted one draws).
    (printed,) = [line for line in report.splitlines() if "train.py" in line and "/models/semisupcon/0" in line]
    words = shlex.split(printed)
    assert "--number_of_epochs=2" in words
    environment = dict(os.environ, **dict(word.split("=", 1) for word in words[: words.index("python")]))
    words = words[words.index("python") + 1:]

    def pretrain(folder, epochs):
        args = [sys.executable, *(word.replace(str(out / "models"), str(folder)).replace("--number_of_epochs=2", f"--number_of_epochs={epochs}")
                                  for word in words)]
        finished = subprocess.run(args, capture_output=True, text=True, timeout=1500, cwd=REPO, env=environment)
        assert finished.returncode == 0, finished.stderr[-3000:]
        return torch.load(newest_checkpoint(folder / "semisupcon" / "0") / "encoder.ckpt", weights_only=True)

    demo = torch.load(newest_checkpoint(out / "models" / "semisupcon" / "0") / "encoder.ckpt", weights_only=True)
    pretrain(tmp_path / "resumed", 1)
    resumed, straight = pretrain(tmp_path / "resumed", 2), pretrain(tmp_path / "straight", 2)
    for name, value in demo.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=1e-6)
        torch.testing.assert_close(straight[name], value, rtol=0, atol=1e-5)  # the step count kept across epochs: 3e-3 apart
    assert yaml.safe_load((newest_checkpoint(out / "models" / "semisupcon" / "0") / "brain.ckpt").read_text())["optimizer_step"] == 4

    # A smaller largest budget in the same folder is refused: the runs are past it and its checkpoint is gone.
    smaller = subprocess.run(command[:-4] + ["2", "--out", str(out)], capture_output=True, text=True, timeout=1500)
    assert smaller.returncode == 2 and "Traceback" not in smaller.stderr
    assert "is trained for 4 optimizer steps, more than the 2 asked" in smaller.stderr and "pass another --out" in smaller.stderr
