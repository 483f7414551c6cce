"""Checkpoints: one choice (best validation loss, else latest), verified files, interrupted saves.

A checkpoint records the sha256 of its files last (``CHECKSUMS.json``); one that was
interrupted while saving (killed, disk full) or changed on disk afterwards (a weight set
to 1e37, a truncated file) is never resumed from nor exported: resume and export fall
back to the newest complete checkpoint with a warning naming the file, and refuse with a
clear error when none is left.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from pretrain_fixtures import make_tone_dataset
from test_probe import CHUNK_LEN, save_checkpoint, tiny_encoder, write_spec

from semisupcon_recipe.checkpoints import (
    CHECKSUMS_FILE,
    CheckpointError,
    VerifiedCheckpointer,
    find_checkpoint,
    find_encoder_spec,
    load_encoder_from_checkpoint,
)
from semisupcon_recipe.cli import main as cli_main
from semisupcon_recipe.encoder_spec import load_encoder_spec, write_encoder_spec
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop.export import export_checkpoint

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "recipes" / "Generic" / "pretrain" / "train.py"
TINY = REPO / "recipes" / "Generic" / "pretrain" / "hparams" / "tiny_cpu.yaml"
TINY_OVERRIDES = {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}


def run_with_checkpoints(folder: Path, metas: list[dict]) -> list[Path]:
    """A run folder (tiny spec) with one verified checkpoint per meta, oldest first."""
    write_encoder_spec(TINY, TINY_OVERRIDES, folder)
    checkpointer = VerifiedCheckpointer(folder / "save", {"encoder": load_encoder_spec(folder)["encoder"]})
    return [checkpointer.save_checkpoint(meta=meta).path for meta in metas]


def set_one_weight(weights: Path, value: float) -> None:
    """Rewrite a saved state dict with its first parameter's first entry set to ``value``."""
    state = torch.load(weights, weights_only=True)
    name = next(iter(state))
    state[name].view(-1)[0] = value
    torch.save(state, weights)


def test_best_validation_loss_wins_else_the_latest(tmp_path):
    validated = run_with_checkpoints(tmp_path / "validated", [{"loss": 0.5}, {"loss": 0.9}, {"train_loss": 0.1}])
    assert find_checkpoint(tmp_path / "validated").path == validated[0]
    assert find_checkpoint(tmp_path / "validated" / "save").path == validated[0]
    assert find_checkpoint(validated[1] / "encoder.ckpt").path == validated[1]
    latest = run_with_checkpoints(tmp_path / "train_only", [{"train_loss": 1.0}, {"train_loss": 5.0}])
    assert find_checkpoint(tmp_path / "train_only").path == latest[1]


def test_an_encoder_is_loaded_from_an_output_folder_with_its_spec(tmp_path):
    trained = tiny_encoder(seed=7)
    save_checkpoint(tiny_encoder(seed=8), tmp_path, "2026-01-01+00-00-00+00")
    latest = save_checkpoint(trained, tmp_path, "2026-01-02+00-00-00+00")
    spec = write_spec(tmp_path)
    assert find_encoder_spec(find_checkpoint(tmp_path)) == spec
    loaded = load_encoder_from_checkpoint(tmp_path)
    assert loaded.weights == latest and loaded.clip_len == CHUNK_LEN and loaded.spec == spec
    assert all(torch.equal(a, b) for a, b in zip(loaded.module.state_dict().values(), trained.state_dict().values()))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no complete checkpoint .* in .*empty .*\(none found\)"):
        find_checkpoint(tmp_path / "empty")


def test_a_weight_changed_on_disk_is_refused_by_export_and_probing(tmp_path, capsys):
    (checkpoint,) = run_with_checkpoints(tmp_path / "run", [{"loss": 1.0}])
    set_one_weight(checkpoint / "encoder.ckpt", 1e37)
    expected = re.escape(f"{checkpoint / 'encoder.ckpt'} does not match the sha256 recorded when the checkpoint was saved")
    with pytest.raises(CheckpointError, match=expected):
        export_checkpoint(tmp_path / "run", tmp_path / "exported")
    with pytest.raises(CheckpointError, match=expected):
        load_encoder_from_checkpoint(checkpoint)
    assert cli_main(["export", str(tmp_path / "run"), str(tmp_path / "exported")]) == 2
    assert "encoder.ckpt does not match the sha256" in capsys.readouterr().err
    assert not (tmp_path / "exported" / "export.json").exists()


def test_export_falls_back_to_the_newest_complete_checkpoint_with_a_warning(tmp_path, caplog):
    older, newest = run_with_checkpoints(tmp_path / "run", [{"train_loss": 2.0}, {"train_loss": 1.0}])
    weights = newest / "encoder.ckpt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a save cut short
    with caplog.at_level(logging.WARNING, logger="semisupcon_recipe.checkpoints"):
        exported = export_checkpoint(tmp_path / "run", tmp_path / "exported")
    assert load_exported(exported)[1]["source_checkpoint"] == str(older.resolve())
    assert f"{weights} does not match the sha256" in caplog.text and "newest complete checkpoint" in caplog.text
    with pytest.raises(CheckpointError, match=re.escape(f"checkpoint {newest} is refused")):
        export_checkpoint(newest, tmp_path / "exported_newest")


KILLED_DURING_SAVE = textwrap.dedent(
    """
    import os, signal, sys, torch
    from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks
    from semisupcon_recipe.checkpoints import VerifiedCheckpointer

    @register_checkpoint_hooks
    class DiesOnSecondSave:
        saves = 0

        @mark_as_saver
        def save(self, path):
            DiesOnSecondSave.saves += 1
            if DiesOnSecondSave.saves == 2:
                os.kill(os.getpid(), signal.SIGKILL)  # the process dies inside SpeechBrain's save
            open(path, "w").write("ok")

        @mark_as_loader
        def load(self, path, end_of_epoch=True):
            pass

    layer = torch.nn.Linear(4, 4)
    checkpointer = VerifiedCheckpointer(sys.argv[1], {"layer": layer, "z_last": DiesOnSecondSave()})
    checkpointer.save_checkpoint(meta={"step": 1})
    torch.nn.init.constant_(layer.weight, 5.0)
    checkpointer.save_checkpoint(meta={"step": 2})
    """
)


def test_a_process_killed_inside_a_save_leaves_the_previous_checkpoint_in_use(tmp_path, caplog):
    save = tmp_path / "save"
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_SAVE, str(save)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == -9, result.stderr[-2000:]
    folders = sorted(save.glob("CKPT+*"))
    assert len(folders) == 2 and sum((folder / CHECKSUMS_FILE).is_file() for folder in folders) == 1
    layer = torch.nn.Linear(4, 4)
    checkpointer = VerifiedCheckpointer(save, {"layer": layer})
    with caplog.at_level(logging.WARNING, logger="semisupcon_recipe.checkpoints"):
        recovered = checkpointer.recover_if_possible()
    assert recovered.meta["step"] == 1 and not torch.all(layer.weight == 5.0)
    assert f"{CHECKSUMS_FILE} is missing: the save was interrupted" in caplog.text


def test_resume_refuses_to_start_over_when_no_checkpoint_is_complete(tmp_path):
    (checkpoint,) = run_with_checkpoints(tmp_path / "run", [{"loss": 1.0}])
    set_one_weight(checkpoint / "encoder.ckpt", 1e37)
    checkpointer = VerifiedCheckpointer(tmp_path / "run" / "save", {"encoder": load_encoder_spec(tmp_path / "run")["encoder"]})
    with pytest.raises(CheckpointError, match=r"no complete checkpoint to resume from .*encoder.ckpt does not match"):
        checkpointer.recover_if_possible()


def recipe(manifests, output: Path, epochs: int) -> subprocess.CompletedProcess:
    labeled, unlabeled = manifests
    return subprocess.run(
        [sys.executable, str(TRAIN), str(TINY), f"--labeled_manifest={labeled}", f"--unlabeled_manifest={unlabeled}",
         f"--output_folder={output}", "--device=cpu", f"--number_of_epochs={epochs}", "--batches_per_epoch=2"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_the_recipe_resumes_past_a_broken_newest_checkpoint_and_refuses_a_modified_only_one(tmp_path):
    manifests = make_tone_dataset(tmp_path / "tones", num_clips=16, num_labeled=8, seconds=0.6)
    output = tmp_path / "run"
    first = recipe(manifests, output, epochs=1)
    assert first.returncode == 0, first.stderr[-3000:]
    (good,) = sorted((output / "save").glob("CKPT+*"))
    assert (good / CHECKSUMS_FILE).is_file()

    # A newer checkpoint whose save was cut short: no checksums, half of the weights.
    broken = good.with_name(good.name + "-later")
    shutil.copytree(good, broken)
    (broken / CHECKSUMS_FILE).unlink()
    meta = yaml.safe_load((broken / "CKPT.yaml").read_text())
    (broken / "CKPT.yaml").write_text(yaml.safe_dump({**meta, "unixtime": meta["unixtime"] + 60}))
    weights = broken / "encoder.ckpt"
    weights.write_bytes(weights.read_bytes()[:100])
    second = recipe(manifests, output, epochs=2)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{broken}" in second.stderr + second.stdout and "newest complete checkpoint" in second.stderr + second.stdout
    assert "epoch: 2" in (output / "train_log.txt").read_text()

    # Every complete checkpoint modified on disk: the run refuses instead of starting over.
    for folder in (output / "save").glob("CKPT+*"):
        if (folder / CHECKSUMS_FILE).is_file():
            set_one_weight(folder / "encoder.ckpt", 1e37)
    third = recipe(manifests, output, epochs=3)
    assert third.returncode != 0
    output_text = third.stderr + third.stdout
    assert "no complete checkpoint to resume from" in output_text and "encoder.ckpt does not match the sha256" in output_text
