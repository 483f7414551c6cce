"""WebDataset shards: views like the cache, 2 ranks never share a clip, exact mid-epoch resume."""


import numpy as np
import pytest
import soundfile

from semisupcon_recipe.cli import main as cli
from semisupcon_recipe.data import EpochSeed
from semisupcon_recipe.manifest import read_manifest, write_manifest
from semisupcon_recipe.shards import sharded_training_batches
from semisupcon_recipe.views import ViewReader

RATE, CLIP_LEN, BATCH, LABELED_SHARE = 22050, 4000, 4, 0.25
NUM_LABELED, NUM_UNLABELED, CLIPS_PER_SHARD = 6, 26, 4  # 7 unlabeled shards, the last one short
WORLD_SIZE = 2


def write_pools(folder):
    rng = np.random.default_rng(0)
    for pool, count in (("labeled", NUM_LABELED), ("unlabeled", NUM_UNLABELED)):
        rows = []
        for index in range(count):
            path = folder / f"{pool}{index}.wav"
            soundfile.write(path, (rng.normal(size=int(RATE * rng.uniform(0.5, 1.0))) * 0.1).astype("float32"), RATE)
            labels = ("rock" if index % 2 else "jazz;new age") if pool == "labeled" else ""
            rows.append({"ID": f"{pool}-{index}", "duration": 1.0, "wav": str(path), "labels": labels})
        write_manifest(folder / f"{pool}.csv", rows)
    command = [str(folder / "labeled.csv"), str(folder / "unlabeled.csv"), "--out", str(folder / "shards"),
               "--sample-rate", str(RATE), "--workers", "2", "--clips-per-shard", str(CLIPS_PER_SHARD)]
    assert cli(["cache", *command]) == 0


def stream(folder, output_folder, epoch=0, rank=0, world_size=1):
    seed = EpochSeed(7, epoch)
    batches = sharded_training_batches(
        str(folder / "shards" / "labeled"), str(folder / "shards" / "unlabeled"), "multilabel", RATE, CLIP_LEN, 2,
        seed, output_folder, BATCH, LABELED_SHARE, labeled_data_fraction=0.5, seed=3, shuffle_buffer=5,
        rank=rank, world_size=world_size,
    )
    return batches, seed


def describe(batch):
    return {"ids": batch.ids, "views_sum": round(float(batch.views.double().sum()), 6), "labeled": batch.labeled.tolist()}


def test_shard_views_are_the_views_of_the_files_and_batches_mix_labels(tmp_path):
    write_pools(tmp_path)
    batches, seed = stream(tmp_path, tmp_path)
    reader = ViewReader(RATE, CLIP_LEN, 2)
    wav = {**read_manifest(tmp_path / "labeled.csv"), **read_manifest(tmp_path / "unlabeled.csv")}
    kept = (tmp_path / "labeled_subset.txt").read_text().splitlines()
    seen = []
    for batch in batches:
        assert batch.views.shape == (BATCH, 2, CLIP_LEN) and batch.labeled.tolist() == [True, False, False, False]
        assert batch.ids[0] in kept and batch.labels.shape == (BATCH, 3)
        for item_id, views in zip(batch.ids, batch.views):
            on_the_fly = reader.read(wav[item_id]["wav"], seed.rng(item_id))
            assert (views - on_the_fly).abs().max() <= 0.5 / 32768 + 1e-7
        seen += batch.ids[1:]
    assert len(batches) == NUM_UNLABELED // 3 and len(seen) == len(set(seen))


def rank_record(folder, rank):
    """What ``rank`` of ``WORLD_SIZE`` reads: two epochs, and epoch 1 interrupted after 2 batches then resumed."""
    output = folder / f"rank{rank}"
    output.mkdir()
    batches, seed = stream(folder, output, rank=rank, world_size=WORLD_SIZE)
    epochs = []
    for epoch in (0, 1):
        seed.epoch = epoch
        epochs.append([describe(batch) for batch in batches])
    interrupted, seed = stream(folder, output, epoch=1, rank=rank, world_size=WORLD_SIZE)
    head = []
    for batch in interrupted:
        head.append(describe(batch))
        if len(head) == 2:
            break
    state = interrupted.state_dict()
    resumed, _ = stream(folder, output, epoch=1, rank=rank, world_size=WORLD_SIZE)
    resumed.load_state_dict(state)
    tail = [describe(batch) for batch in resumed]
    return {"epochs": epochs, "head": head, "tail": tail, "length": len(batches)}


@pytest.mark.slow
def test_two_ranks_share_no_clip_in_an_epoch_and_resume_mid_epoch_exactly(tmp_path):
    write_pools(tmp_path)
    ranks = [rank_record(tmp_path, rank) for rank in range(WORLD_SIZE)]
    assert ranks[0]["length"] == ranks[1]["length"] >= 2
    for epoch in (0, 1):
        per_rank = [[item for batch in rank["epochs"][epoch] for item in batch["ids"][1:]] for rank in ranks]
        assert all(len(batches) == ranks[0]["length"] for batches in (r["epochs"][epoch] for r in ranks))
        everything = per_rank[0] + per_rank[1]
        assert len(everything) == len(set(everything)), "an unlabeled clip was read twice in one epoch"
    assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1]  # a new epoch, a new order and new views
    for rank in ranks:
        assert rank["head"] + rank["tail"] == rank["epochs"][1]


@pytest.mark.slow
def test_the_pretraining_recipe_trains_from_shards_given_in_the_yaml(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rng = np.random.default_rng(1)
    for pool, count in (("labeled", 8), ("unlabeled", 16)):
        rows = []
        for index in range(count):
            path = tmp_path / f"{pool}{index}.wav"
            soundfile.write(path, (rng.normal(size=16000) * 0.1).astype("float32"), 44100 if index % 2 else 16000)
            rows.append({"ID": f"{pool}-{index}", "duration": 1.0, "wav": str(path),
                         "labels": ("rock" if index % 2 else "jazz") if pool == "labeled" else ""})
        write_manifest(tmp_path / f"{pool}.csv", rows)
    assert cli(["cache", str(tmp_path / "labeled.csv"), str(tmp_path / "unlabeled.csv"), "--out", str(tmp_path / "shards"),
                "--sample-rate", "16000", "--workers", "1", "--clips-per-shard", "5"]) == 0
    command = [
        sys.executable, str(root / "recipes/Generic/pretrain/train.py"), str(root / "recipes/Generic/pretrain/hparams/tiny_cpu.yaml"),
        "--labeled_manifest=null", "--unlabeled_manifest=null", f"--labeled_shards={tmp_path / 'shards' / 'labeled'}",
        f"--unlabeled_shards={tmp_path / 'shards' / 'unlabeled'}", f"--output_folder={tmp_path / 'run'}",
        "--device=cpu", "--number_of_epochs=1",
    ]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "run" / "train_log.txt").read_text()
    # The 44.1 kHz files are 0.36 s, shorter than one 0.5 s view: skipped and counted.
    # One pass over the 8 usable unlabeled clips at 4 per batch: 2 optimizer steps.
    assert "epoch: 1, lr: 1.00e-03, optimizer_step: 2 -" in log and "train labeled_fraction: 5.00e-01" in log
    run_log = (tmp_path / "run" / "log.txt").read_text()
    assert "sharded pretraining data: 8 labeled clips kept" in run_log
    assert "skipping 4 labeled clip(s) shorter than one view" in run_log and "skipping 8 unlabeled clip(s)" in run_log
