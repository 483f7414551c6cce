"""Bad data in pretraining: skipped and counted, or a clear error naming the row."""

import logging

import numpy as np
import pytest
import soundfile
import torch

from semisupcon_recipe.data import EpochSeed, collate_views, pretraining_datasets
from semisupcon_recipe.manifest import ManifestError, write_manifest
from semisupcon_recipe.views import ViewReader
from pretrain_fixtures import tone


@pytest.fixture
def bad_dataset(tmp_path):
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "good.wav", tone(440, 1.5, rng), 16000)
    soundfile.write(tmp_path / "stereo44k.wav", np.stack([tone(440, 1.5, rng, 44100)] * 2, axis=1), 44100)
    soundfile.write(tmp_path / "short.wav", tone(440, 0.1, rng), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    (tmp_path / "empty.wav").write_bytes(b"")
    rows = [
        {"ID": "good", "duration": 1.5, "wav": str(tmp_path / "good.wav"), "labels": "a"},
        {"ID": "stereo44k", "duration": 1.5, "wav": str(tmp_path / "stereo44k.wav"), "labels": "b"},
        # The manifest claims durations the files do not have: only reading finds out.
        {"ID": "short", "duration": 1.5, "wav": str(tmp_path / "short.wav")},
        {"ID": "corrupt", "duration": 1.5, "wav": str(tmp_path / "corrupt.wav")},
        {"ID": "empty", "duration": 1.5, "wav": str(tmp_path / "empty.wav")},
        {"ID": "short_by_manifest", "duration": 0.1, "wav": str(tmp_path / "short.wav")},
    ]
    write_manifest(tmp_path / "labeled.csv", rows[:2])
    write_manifest(tmp_path / "unlabeled.csv", rows[2:])
    return tmp_path


def build(folder, **kwargs):
    return pretraining_datasets(
        labeled_manifest=str(folder / "labeled.csv"),
        unlabeled_manifest=str(folder / "unlabeled.csv"),
        supervision="multiclass",
        reader=ViewReader(16000, 8000, 2),
        epoch_seed=EpochSeed(0),
        output_folder=folder / "out",
        **kwargs,
    )


def test_bad_items_are_skipped_and_counted_never_replaced(bad_dataset, caplog):
    data = build(bad_dataset)
    assert data.too_short == ["short_by_manifest"]  # filtered up front from the manifest
    items = [data.dataset[i] for i in range(len(data.dataset))]
    with caplog.at_level(logging.WARNING):
        batch = collate_views(items)
    assert batch.ids == ["good", "stereo44k"]  # the stereo 44.1 kHz file is down-mixed and resampled
    assert sorted(batch.skipped) == ["corrupt", "empty", "short"]
    assert batch.views.shape == (2, 2, 8000)
    assert torch.isfinite(batch.views).all()
    assert batch.labels.tolist() == [0, 1] and batch.labeled.tolist() == [True, True]


def test_unknown_label_names_the_row(bad_dataset):
    build(bad_dataset)  # saves the vocabulary {a, b}
    write_manifest(bad_dataset / "valid.csv", [{"ID": "v1", "duration": 1.5, "wav": str(bad_dataset / "good.wav"), "labels": "zzz"}])
    with pytest.raises(ManifestError, match=r"valid.csv, ID v1.*unknown label.*zzz"):
        pretraining_datasets(
            labeled_manifest=str(bad_dataset / "valid.csv"), unlabeled_manifest=None, supervision="multiclass",
            reader=ViewReader(16000, 8000, 2), epoch_seed=EpochSeed(0), output_folder=bad_dataset / "out",
        )


def test_clip_in_both_manifests_is_used_once_with_its_label(bad_dataset):
    write_manifest(bad_dataset / "unlabeled.csv", [
        {"ID": "good", "duration": 1.5, "wav": str(bad_dataset / "good.wav")},
        {"ID": "other", "duration": 1.5, "wav": str(bad_dataset / "good.wav")},
    ])
    data = build(bad_dataset)
    assert len(data.dataset) == 3
    assert len(data.labeled_indices) == 2 and len(data.unlabeled_indices) == 1


def test_views_depend_on_item_and_epoch_only(bad_dataset):
    seed = EpochSeed(0)
    data = pretraining_datasets(
        labeled_manifest=str(bad_dataset / "labeled.csv"), unlabeled_manifest=None, supervision="multiclass",
        reader=ViewReader(16000, 4000, 2), epoch_seed=seed, output_folder=bad_dataset / "out",
    )
    first = data.dataset[0]["views"]
    assert torch.equal(first, data.dataset[0]["views"])
    seed.epoch = 1
    assert not torch.equal(first, data.dataset[0]["views"])


def test_epoch_statistics_survive_a_checkpoint_once_for_all_processes(tmp_path):
    from semisupcon_recipe.brains import EpochStatistics

    saved = EpochStatistics()
    saved.reset(epoch=2)
    saved.add({"loss_labeled": 1.5}, read={"labeled": 4, "unlabeled": 3}, skipped={"labeled": 0, "unlabeled": 1})
    saved._save(tmp_path / "statistics.ckpt")
    main, other = EpochStatistics(rank=0), EpochStatistics(rank=1)
    main._recover(tmp_path / "statistics.ckpt", end_of_epoch=False)
    other._recover(tmp_path / "statistics.ckpt", end_of_epoch=False)
    # The saved counts are the sums over processes: the main process resumes them, the others start from zero.
    assert (main.epoch, main.finished, main.summary()) == (2, False, {"loss_labeled": 1.5, "skipped_items": 1})
    assert main.read == {"labeled": 4, "unlabeled": 3}
    assert (other.epoch, other.summary(), other.read) == (2, {"skipped_items": 0}, {"labeled": 0, "unlabeled": 0})


def test_a_batch_counts_its_unreadable_labeled_clips(bad_dataset):
    data = build(bad_dataset)
    items = {data.dataset[i]["id"]: data.dataset[i] for i in range(len(data.dataset))}
    unreadable_labeled = {**items["stereo44k"], "views": None}  # as if its file had vanished
    batch = collate_views([items["good"], unreadable_labeled, items["corrupt"]])
    assert batch.ids == ["good"] and batch.skipped == ["stereo44k", "corrupt"] and batch.skipped_labeled == 1
