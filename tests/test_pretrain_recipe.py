"""The pretraining recipe end to end: three modes, resume after a kill, torchrun, refused reruns."""

import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pretrain_fixtures import make_tone_dataset, with_unreadable_clips

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "recipes" / "Generic" / "pretrain" / "train.py"
TINY = ROOT / "recipes" / "Generic" / "pretrain" / "hparams" / "tiny_cpu.yaml"

pytestmark = pytest.mark.slow
# Only a guard against a real hang (runs take seconds alone, minutes on a loaded machine).
HANG_TIMEOUT_S = 800


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return make_tone_dataset(tmp_path_factory.mktemp("tones"))


def command(manifests, output, *extra):
    labeled, unlabeled = manifests
    return [
        sys.executable, str(TRAIN), str(TINY), f"--labeled_manifest={labeled}", f"--unlabeled_manifest={unlabeled}",
        f"--output_folder={output}", "--device=cpu", *extra,
    ]


def run(args, timeout=HANG_TIMEOUT_S):
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def checkpoints(output):
    return sorted((Path(output) / "save").glob("CKPT+*"))


def final_encoder(output):
    last = max(checkpoints(output), key=lambda folder: yaml.safe_load((folder / "brain.ckpt").read_text())["optimizer_step"])
    return torch.load(last / "encoder.ckpt", weights_only=True)


@pytest.mark.parametrize("labeled_share", [0.0, 0.5, 1.0])
def test_each_mode_trains_and_checkpoints(manifests, tmp_path, labeled_share):
    output = tmp_path / f"run{labeled_share}"
    # Validation on held-out labeled clips (here: the labeled manifest itself, one pool only).
    valid = [f"--valid_labeled_manifest={manifests[0]}"] if labeled_share == 0.5 else []
    run(command(manifests, output, f"--labeled_share={labeled_share}", "--number_of_epochs=1", "--batches_per_epoch=3", *valid))
    assert checkpoints(output) and (checkpoints(output)[-1] / "encoder.ckpt").is_file()
    log = (output / "train_log.txt").read_text()
    assert "epoch: 1" in log and "optimizer_step: 3" in log
    assert float(re.search(r"train labeled_fraction: ([\d.e+-]+)", log).group(1)) == pytest.approx(labeled_share)
    if valid:
        assert re.search(r"valid loss: [\d.]+", log)
        assert "loss" in yaml.safe_load((checkpoints(output)[-1] / "CKPT.yaml").read_text())
    for name in ("label_vocabulary.json", "labeled_subset.txt", "encoder_spec.yaml"):
        assert (output / name).is_file()


def test_the_console_shows_epochs_and_stages_while_log_txt_has_everything(manifests, tmp_path):
    output = tmp_path / "run"
    args = command(manifests, output, "--number_of_epochs=2", "--batches_per_epoch=2", "--checkpoints_to_keep=1")
    console = run(args).stdout.splitlines()
    log = (output / "log.txt").read_text()
    assert "Saved an end-of-epoch checkpoint" in log and "Deleted checkpoint" in log and "optimizer step 1: loss" in log
    assert not [line for line in console if "checkpoint" in line.lower() or "optimizer step" in line]
    assert len([line for line in console if line.startswith("epoch: ")]) == 2
    assert any(line.startswith("pretraining done") for line in console)
    assert (output / "command.txt").read_text().splitlines() == [shlex.join(["python", *args[1:]])]


def epoch_line(output, epoch):
    """The fields of one epoch's line of train_log.txt."""
    line = next(line for line in (Path(output) / "train_log.txt").read_text().splitlines() if line.startswith(f"epoch: {epoch},"))
    return dict(re.findall(r"(\w[\w ]*?): ([^,\s]+)", line.replace(" - ", ", ")))


# Runs the recipe and SIGKILLs it right after its N-th mid-epoch checkpoint is saved: the kill
# lands at the same step on an idle or a loaded machine (no polling, no clock).
KILL_AFTER_SAVE = """
import os, runpy, signal, sys
from speechbrain.utils.checkpoints import Checkpointer
kill_after, saves = int(sys.argv.pop(1)), []
original = Checkpointer.save_and_keep_only
def save_then_maybe_die(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    if not kwargs.get("end_of_epoch", True):
        saves.append(1)
        if len(saves) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    return result
Checkpointer.save_and_keep_only = save_then_maybe_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_killed_run_resumes_from_the_same_step_and_logs_the_whole_epoch(manifests, tmp_path):
    # Two unreadable unlabeled clips: the resumed epoch must count the skips before the kill too.
    manifests = (manifests[0], with_unreadable_clips(manifests[1], tmp_path / "bad", 2))
    schedule = ["--number_of_epochs=2", "--batches_per_epoch=6", "--ckpt_interval_steps=1"]
    reference = tmp_path / "uninterrupted"
    run(command(manifests, reference, *schedule))

    output = tmp_path / "killed"
    args = command(manifests, output, *schedule)
    # One save after each of the first 5 steps of epoch 1 (step 6 ends the epoch), so save 7 follows step 8.
    killed = subprocess.run([args[0], "-c", KILL_AFTER_SAVE, "7", *args[1:]], cwd=ROOT, capture_output=True, timeout=HANG_TIMEOUT_S)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    newest = max(checkpoints(output), key=lambda folder: folder.stat().st_mtime)
    assert not yaml.safe_load((newest / "CKPT.yaml").read_text())["end-of-epoch"]
    killed_at = yaml.safe_load((newest / "brain.ckpt").read_text())["optimizer_step"]
    assert 6 < killed_at < 12, f"killed at optimizer step {killed_at}, expected inside epoch 2"

    resumed = run(command(manifests, output, *schedule))
    assert "Loading a checkpoint" in resumed.stderr + resumed.stdout or "Loading a checkpoint" in (output / "log.txt").read_text()
    assert "optimizer_step: 12" in (output / "train_log.txt").read_text()
    expected, actual = final_encoder(reference), final_encoder(output)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6, msg=f"{name} differs after resume")
    expected, actual = epoch_line(reference, 2), epoch_line(output, 2)
    assert int(expected["train skipped_items"]) > 0
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert float(actual[key]) == pytest.approx(float(value), abs=1e-3), f"{key} of the resumed epoch"


def test_run_resumed_with_more_epochs_ends_with_the_weights_of_a_run_started_with_them(manifests, tmp_path):
    schedule = ["--batches_per_epoch=2", "--log_interval=1"]
    run(command(manifests, tmp_path / "straight", "--number_of_epochs=2", *schedule))
    run(command(manifests, tmp_path / "resumed", "--number_of_epochs=1", *schedule))
    run(command(manifests, tmp_path / "resumed", "--number_of_epochs=2", *schedule))
    expected, actual = final_encoder(tmp_path / "straight"), final_encoder(tmp_path / "resumed")
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6, msg=f"{name} differs after resuming")
    assert epoch_line(tmp_path / "resumed", 2)["train loss"] == epoch_line(tmp_path / "straight", 2)["train loss"]


def first_step_loss(output):
    return float(re.search(r"optimizer step 1: loss ([\d.]+)", (Path(output) / "log.txt").read_text()).group(1))


def test_two_process_torchrun_matches_one_process_global_batch(manifests, tmp_path):
    # Per-example normalisation and no augmentation: nothing depends on how the global batch is split.
    # Unreadable clips and mid-epoch checkpoints: the logged skips are those of the global batches.
    manifests = (manifests[0], with_unreadable_clips(manifests[1], tmp_path / "bad", 24))
    common = ["--normalization=group", "--augment_severity=0", "--number_of_epochs=1", "--batches_per_epoch=2", "--log_interval=1",
              "--ckpt_interval_steps=1"]
    run(command(manifests, tmp_path / "single", *common, "--batch_size=8"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: torchrun binds its own free rendezvous port (no port chosen here and released).
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = command(manifests, tmp_path / "ddp", *common, "--batch_size=4", "--distributed_backend=gloo")
    result = subprocess.run(torchrun + args[1:], cwd=ROOT, capture_output=True, text=True, timeout=HANG_TIMEOUT_S, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert first_step_loss(tmp_path / "ddp") == pytest.approx(first_step_loss(tmp_path / "single"), abs=1e-5)
    assert checkpoints(tmp_path / "ddp")
    skipped = int(epoch_line(tmp_path / "single", 1)["train skipped_items"])
    assert skipped > 0 and int(epoch_line(tmp_path / "ddp", 1)["train skipped_items"]) == skipped


def refused(args, timeout=HANG_TIMEOUT_S):
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode != 0, "the run should have been refused"
    return result.stdout + result.stderr  # SpeechBrain logs the error to the console (stdout)


def test_rerun_with_changed_method_settings_is_refused_listing_each_difference(manifests, tmp_path):
    output = tmp_path / "run"
    run(command(manifests, output, "--labeled_data_fraction=0.5", "--number_of_epochs=1", "--batches_per_epoch=2"))
    subset = (output / "labeled_subset.txt").read_text()
    error = refused(command(manifests, output, "--labeled_data_fraction=0.25", "--labeled_share=0.25", "--number_of_epochs=1", "--batches_per_epoch=2"))
    assert "other method settings" in error
    assert "labeled_data_fraction: 0.5 there, 0.25 asked" in error and "labeled_share: 0.5 there, 0.25 asked" in error
    assert (output / "labeled_subset.txt").read_text() == subset
    # More epochs is not a method change: the run resumes.
    run(command(manifests, output, "--labeled_data_fraction=0.5", "--number_of_epochs=2", "--batches_per_epoch=2"))
    assert "epoch: 2" in (output / "train_log.txt").read_text()


def test_second_pretraining_into_a_folder_in_use_is_refused(manifests, tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    with open(output / "pretraining.lock", "a+") as lock:  # as a running pretraining holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        error = refused(command(manifests, output, "--number_of_epochs=1", "--batches_per_epoch=2"))
    assert "another pretraining (process 4242) is running into" in error
    assert not (output / "train_log.txt").exists() and not (output / "labeled_subset.txt").exists()


@pytest.mark.parametrize("pool", ["labeled", "unlabeled"])
def test_a_wholly_unreadable_pool_stops_the_run(manifests, tmp_path, pool):
    unreadable = with_unreadable_clips(None, tmp_path / "bad", 6, labels="class0" if pool == "labeled" else "")
    chosen = (unreadable, manifests[1]) if pool == "labeled" else (manifests[0], unreadable)
    error = refused(command(chosen, tmp_path / "run", "--number_of_epochs=1", "--batches_per_epoch=2"))
    assert f"every {pool} clip drawn" in error and str(unreadable) in error
    assert not checkpoints(tmp_path / "run")


def test_a_batch_without_any_labeled_clip_is_refused_up_front(manifests, tmp_path):
    error = refused(command(manifests, tmp_path / "run", "--batch_size=1", "--labeled_share=0.5"))
    assert "floor(1 * 0.5) = 0 labeled clips per batch" in error and "batch_size to at least 2" in error


def test_pair_sampling_gives_every_labeled_view_label_positives_and_is_a_recorded_method_setting(manifests, tmp_path):
    output = tmp_path / "run"
    args = ("--labeled_share=0.5", "--number_of_epochs=1", "--batches_per_epoch=3", "--log_interval=1")
    run(command(manifests, output, "--labeled_sampling=pairs", *args))
    # 4 labeled clips per batch of 8 in two pairs (4 classes of 4 clips): each labeled view
    # has at least the 2 views of its partner, so at least 1 per view over all 16 views.
    assert float(re.search(r"train positives_label: ([\d.e+-]+)", (output / "train_log.txt").read_text()).group(1)) >= 1.0
    assert "0 of 16 labeled clips have no positive to pair with" in (output / "log.txt").read_text()
    error = refused(command(manifests, output, "--labeled_sampling=uniform", *args))
    assert "labeled_sampling: 'pairs' there, 'uniform' asked" in error


def test_an_unknown_labeled_sampling_is_refused(manifests, tmp_path):
    error = refused(command(manifests, tmp_path / "run", "--labeled_sampling=balanced", "--number_of_epochs=1"))
    assert "labeled_sampling: 'balanced' is not one of ('uniform', 'pairs')" in error
