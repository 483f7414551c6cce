"""Feature extraction, caching and probes on tiny planted-signal data.

Each class of the planted dataset is a sine at its own frequency (with random phase,
amplitude and noise); a small random SampleCNN sees the difference, so a probe on its
frozen features must score high, and the same probe on shuffled labels must not.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from semisupcon_recipe.encoders import SampleCNN
from semisupcon_recipe.features import (
    CorruptionSpec,
    FeatureCache,
    chunk_waveform,
    extract_embeddings,
)
from semisupcon_recipe.manifest import ManifestError, write_manifest
from semisupcon_recipe.probe import ProbeHead, ProbeRun
from semisupcon_recipe.probe_brain import EarlyStopper, train_probe
from semisupcon_recipe.probe_data import SPLITS, probe_datasets

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 8000
CHUNK_LEN = 256                       # the receptive field of the tiny SampleCNN below
TRACK_SECONDS = 0.25                  # 7 full chunks per track
FREQUENCIES = {"low": 250.0, "mid": 1000.0, "high": 2500.0}
TRACKS_PER_CLASS = {"train": 8, "valid": 6, "test": 8}
LEARNING_RATE = 0.05                  # tiny data: converge in a few epochs
PAPER_TRAINING = {                    # the paper protocol's block, sized for tiny data
    "batch_size": 16, "max_epochs": 25, "patience": 5,
    "opt_class": lambda params: torch.optim.Adam(params, lr=LEARNING_RATE, weight_decay=1e-6),
}


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Tiny heads gain nothing from intra-op threads; on a shared 2-core machine they cost 3x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_encoder(seed: int = 0) -> SampleCNN:
    """A small random SampleCNN at 8 kHz (256-sample receptive field, 16-d output).

    Its BatchNorm statistics are calibrated on tones of random frequencies (as training
    would set them); with the default statistics a random network's outputs are
    dominated by its biases.
    """
    torch.manual_seed(seed)
    encoder = SampleCNN(sample_rate=SAMPLE_RATE, channels=(8, 8, 8, 16), kernel=4)
    rng = np.random.default_rng(seed)
    frequencies = np.exp(rng.uniform(np.log(100), np.log(3500), size=64))
    tones = torch.from_numpy(np.stack([planted_tone(f, rng, CHUNK_LEN / SAMPLE_RATE) for f in frequencies]))
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = None  # cumulative average over the calibration batch
            module.reset_running_stats()
    with torch.no_grad():
        encoder.train()(tones)  # (64, CHUNK_LEN) -> updates the running statistics
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = 0.1
    return encoder.eval()


def planted_tone(frequency: float, rng: np.random.Generator, seconds: float = TRACK_SECONDS) -> np.ndarray:
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    amplitude = rng.uniform(0.45, 0.55)
    signal = amplitude * np.sin(2 * np.pi * frequency * time + rng.uniform(0, 2 * np.pi))
    return (signal + 0.05 * rng.standard_normal(time.size)).astype("float32")


def write_planted_dataset(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Three splits of tones, one frequency per class; returns manifest paths per split.

    Each row carries the class (``labels``) and a regression target ``pitch`` (log2 of
    the frequency); tests derive other label columns with :func:`relabel`.
    """
    rng = np.random.default_rng(seed)
    manifests = {}
    for split in SPLITS:
        rows = []
        for name, frequency in FREQUENCIES.items():
            for index in range(TRACKS_PER_CLASS[split]):
                path = folder / "audio" / f"{split}_{name}_{index}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, planted_tone(frequency, rng), SAMPLE_RATE)
                rows.append({"ID": f"{split}_{name}_{index}", "duration": TRACK_SECONDS, "wav": str(path),
                             "labels": name, "pitch": f"{np.log2(frequency):.4f}"})
        manifests[split] = folder / f"{split}.csv"
        write_manifest(manifests[split], rows)
    return manifests


def relabel(manifests: dict[str, Path], folder: Path, column_to_labels) -> dict[str, Path]:
    """Copies of the manifests whose ``labels`` column is ``column_to_labels(row, rng)``."""
    import csv

    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    result = {}
    for split, path in manifests.items():
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["labels"] = column_to_labels(row, rng)
        result[split] = folder / f"{split}.csv"
        write_manifest(result[split], rows)
    return result


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    manifests = write_planted_dataset(folder)
    encoder = tiny_encoder()
    cache = folder / "cache"
    features = {
        split: extract_embeddings(encoder, manifests[split], cache, chunk_len=CHUNK_LEN, max_chunks=64)
        for split in SPLITS
    }
    return {"folder": folder, "manifests": manifests, "encoder": encoder, "cache": cache, "features": features}


def run_probe(data, folder: Path, hidden_size: int = 0, select_on: str = "accuracy", seed: int = 1) -> dict:
    return train_probe(
        data,
        head_factory=lambda **sizes: ProbeHead(**sizes, hidden_size=hidden_size),
        training=PAPER_TRAINING,
        run=ProbeRun("planted", select_on, seed, folder),
    )


# ----------------------------------------------------------------------------------
# Probes reach what the data allows
# ----------------------------------------------------------------------------------
def test_linear_probe_learns_planted_frequencies_and_writes_results(planted, tmp_path):
    data = probe_datasets("multiclass", planted["features"], planted["manifests"])
    assert data.vocabulary.names == ["high", "low", "mid"]
    assert len(data.train) == 3 * TRACKS_PER_CLASS["train"] * int(TRACK_SECONDS * SAMPLE_RATE // CHUNK_LEN)
    assert len(data.test) == 3 * TRACKS_PER_CLASS["test"]  # one example per track (mean of chunks)
    results = run_probe(data, tmp_path / "run")
    assert results["test"]["accuracy"] >= 0.9
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["test"]["accuracy"] == results["test"]["accuracy"]
    assert written["select_on"] == "accuracy" and 1 <= written["best_epoch"] <= written["epochs_run"]
    assert written["valid"]["accuracy"] >= 0.9
    assert written["data"]["test"]["tracks"] == 3 * TRACKS_PER_CLASS["test"]


def test_probe_on_shuffled_labels_stays_near_chance(planted, tmp_path):
    shuffled = relabel(planted["manifests"], tmp_path / "shuffled",
                       lambda row, rng: str(rng.choice(sorted(FREQUENCIES))))
    data = probe_datasets("multiclass", planted["features"], shuffled)
    results = run_probe(data, tmp_path / "run")
    # chance is 1/3; 24 test tracks: 0.6 is more than three binomial standard deviations above
    assert results["test"]["accuracy"] <= 0.6


def test_multilabel_probe_scores_tags_and_excludes_a_tag_absent_from_test(planted, tmp_path):
    def tags(row, rng):
        extra = ["rare"] if row["ID"].startswith("train") and rng.random() < 0.3 else []
        return ";".join([row["labels"], *extra, *(["bright"] if row["labels"] != "low" else [])])

    manifests = relabel(planted["manifests"], tmp_path / "tags", tags)
    data = probe_datasets("multilabel", planted["features"], manifests)
    assert data.vocabulary.names == ["bright", "high", "low", "mid", "rare"]
    results = run_probe(data, tmp_path / "run", hidden_size=32, select_on="roc_auc")
    assert results["test"]["excluded_tags"] == ["rare"]
    assert results["test"]["scored_tags"] == 4
    assert results["test"]["roc_auc"] >= 0.9 and results["test"]["pr_auc"] >= 0.8


def test_regression_probe_standardizes_targets_and_explains_pitch(planted, tmp_path):
    manifests = relabel(planted["manifests"], tmp_path / "pitch", lambda row, rng: row["pitch"])
    data = probe_datasets("regression", planted["features"], manifests)
    train_targets = data.train[:][1]
    assert torch.allclose(data.target_mean, torch.tensor([np.log2(list(FREQUENCIES.values())).mean()], dtype=torch.float32), atol=1e-3)
    assert abs(float(train_targets.mean())) < 1e-5 and abs(float(train_targets.std(unbiased=False)) - 1) < 1e-4
    results = run_probe(data, tmp_path / "run", hidden_size=32, select_on="r2")
    assert results["test"]["r2"] >= 0.7


def test_unlabeled_rows_of_a_multiclass_task_are_dropped_and_counted(planted, tmp_path):
    manifests = relabel(planted["manifests"], tmp_path / "holes",
                        lambda row, rng: "" if row["ID"].endswith("_0") else row["labels"])
    data = probe_datasets("multiclass", planted["features"], manifests)
    assert data.summary["test"]["unlabeled_dropped"] == 3
    assert len(data.test) == 3 * (TRACKS_PER_CLASS["test"] - 1)


def test_a_class_only_in_the_test_split_is_warned_about_and_reported(planted, tmp_path, caplog):
    from semisupcon_recipe.evaluate import results_markdown

    manifests = relabel(planted["manifests"], tmp_path / "unseen",
                        lambda row, rng: "unheard" if row["ID"].startswith("test") and row["ID"].endswith("_0") else row["labels"])
    with caplog.at_level(logging.WARNING):
        data = probe_datasets("multiclass", planted["features"], manifests)
    assert "label(s) ['unheard'] occur in the test split but not in the training split" in caplog.text
    assert data.summary["test"]["labels_not_in_train"] == ["unheard"] and "labels_not_in_train" not in data.summary["valid"]
    results = run_probe(data, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "results.json").read_text())["data"]["test"]["labels_not_in_train"] == ["unheard"]
    summary = {stage: {"accuracy": {"mean": 0.5, "std": 0.0, "values": [0.5]}} for stage in ("test", "valid")}
    text = results_markdown({"command": "c", "protocol": "paper", "encoder": {"weights": "w", "spec": "s"}, "tasks": [
        {"name": "planted", "kind": "multiclass", "select_on": "accuracy", "heads": {"linear": {**summary, "runs": [results]}}}]})
    assert "planted / linear: label(s) of the test split absent from the training split (the probe cannot learn them): unheard" in text


def test_unknown_label_error_names_the_row(planted, tmp_path):
    from semisupcon_recipe.manifest import LabelVocabulary

    vocabulary = LabelVocabulary("multiclass", ["low"])
    with pytest.raises(ManifestError, match="test.csv, ID 'x'.*unknown label"):
        vocabulary.encode("mid", where="test.csv, ID 'x'")


# ----------------------------------------------------------------------------------
# The frozen encoder and the feature cache
# ----------------------------------------------------------------------------------
def count_forward_calls(encoder, monkeypatch) -> list[int]:
    """Record the batch size of every encoder forward call."""
    calls: list[int] = []
    original = encoder.forward

    def counting(waveforms):
        calls.append(waveforms.shape[0])
        return original(waveforms)

    monkeypatch.setattr(encoder, "forward", counting)
    return calls


def test_second_run_reuses_the_cache_without_calling_the_encoder(planted, monkeypatch, tmp_path):
    calls = count_forward_calls(planted["encoder"], monkeypatch)
    again = extract_embeddings(planted["encoder"], planted["manifests"]["train"], planted["cache"],
                               chunk_len=CHUNK_LEN, max_chunks=64)
    assert calls == []
    assert torch.equal(again.chunks, planted["features"]["train"].chunks)
    # relabelled manifests over the same audio share the features too
    relabelled = relabel(planted["manifests"], tmp_path / "other_task", lambda row, rng: "x")
    extract_embeddings(planted["encoder"], relabelled["train"], planted["cache"], chunk_len=CHUNK_LEN, max_chunks=64)
    assert calls == []
    # other chunking or other weights: a new cache folder, computed once
    other = extract_embeddings(planted["encoder"], planted["manifests"]["valid"], tmp_path / "cache",
                               chunk_len=CHUNK_LEN, max_chunks=2)
    assert calls and set(other.counts.tolist()) == {2}
    different = tiny_encoder(seed=5)
    assert FeatureCache(different, planted["manifests"]["valid"], planted["cache"], CHUNK_LEN, 64).folder \
        != FeatureCache(planted["encoder"], planted["manifests"]["valid"], planted["cache"], CHUNK_LEN, 64).folder


def test_interrupted_extraction_resumes_at_the_first_missing_shard(planted, monkeypatch, tmp_path):
    class SimulatedCrash(Exception):
        pass

    encoder = tiny_encoder()
    manifest = planted["manifests"]["test"]  # 24 tracks -> 6 shards of 4
    original = encoder.forward
    calls = []

    def crashing_on_third_call(waveforms):
        if len(calls) == 2:
            raise SimulatedCrash
        calls.append(waveforms.shape[0])
        return original(waveforms)

    monkeypatch.setattr(encoder, "forward", crashing_on_third_call)
    kwargs = dict(chunk_len=CHUNK_LEN, max_chunks=64, shard_size=4, batch_size=28)  # one shard per call
    with pytest.raises(SimulatedCrash):
        extract_embeddings(encoder, manifest, tmp_path / "cache", **kwargs)
    cache = FeatureCache(encoder, manifest, tmp_path / "cache", CHUNK_LEN, 64, shard_size=4)
    assert cache.missing_shards() == [2, 3, 4, 5]
    assert not list(cache.folder.glob("*.tmp"))  # no half-written file
    monkeypatch.setattr(encoder, "forward", original)
    calls = count_forward_calls(encoder, monkeypatch)
    resumed = extract_embeddings(encoder, manifest, tmp_path / "cache", **kwargs)
    assert sum(calls) == 4 * 4 * 7  # only the four missing shards were encoded
    assert resumed.ids == planted["features"]["test"].ids
    assert torch.allclose(resumed.chunks, planted["features"]["test"].chunks, atol=1e-6)


def test_batchnorm_statistics_stay_frozen_through_extraction_and_probing(tmp_path):
    manifests = write_planted_dataset(tmp_path, seed=3)
    encoder = tiny_encoder().train()
    norms = [module for module in encoder.modules() if isinstance(module, torch.nn.BatchNorm1d)]
    for norm in norms:  # non-trivial statistics, so a train-mode pass would visibly move them
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    before = {name: tensor.clone() for name, tensor in encoder.state_dict().items()}
    features = {split: extract_embeddings(encoder, manifests[split], tmp_path / "cache", CHUNK_LEN, 64)
                for split in SPLITS}
    run_probe(probe_datasets("multiclass", features, manifests), tmp_path / "run")
    after = encoder.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert encoder.training  # mode restored after extraction


def test_unreadable_and_missing_audio_are_skipped_and_counted(planted, tmp_path, caplog):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    good = planted["manifests"]["train"].parent / "audio" / "train_low_0.wav"
    manifest = tmp_path / "m.csv"
    write_manifest(manifest, [
        {"ID": "good", "duration": TRACK_SECONDS, "wav": str(good)},
        {"ID": "broken", "duration": 1.0, "wav": str(broken)},
        {"ID": "missing", "duration": 1.0, "wav": str(tmp_path / "missing.wav")},
    ])
    with caplog.at_level(logging.WARNING, logger="semisupcon_recipe.features"):
        features = extract_embeddings(tiny_encoder(), manifest, tmp_path / "cache", CHUNK_LEN, 64)
    assert features.ids == ["good"] and sorted(features.skipped) == ["broken", "missing"]
    assert "2 of 3 track(s) could not be read" in caplog.text
    assert "broken.wav" in features.skipped["broken"]


def test_short_tracks_are_zero_padded_and_counted(tmp_path, caplog):
    path = tmp_path / "short.wav"
    soundfile.write(path, np.ones(100, dtype="float32"), SAMPLE_RATE)
    manifest = tmp_path / "m.csv"
    write_manifest(manifest, [{"ID": "short", "duration": 100 / SAMPLE_RATE, "wav": str(path)}])
    with caplog.at_level(logging.INFO, logger="semisupcon_recipe.features"):
        features = extract_embeddings(tiny_encoder(), manifest, tmp_path / "cache", CHUNK_LEN, 64)
    assert features.padded == ["short"] and features.counts.tolist() == [1]
    assert "1 track(s) shorter than one chunk" in caplog.text


def test_chunking_spreads_chunks_evenly_over_long_tracks():
    waveform = torch.arange(100 * 10, dtype=torch.float32)  # 100 chunks of 10
    chunks, padded = chunk_waveform(waveform, chunk_len=10, max_chunks=4)
    assert not padded and chunks[:, 0].tolist() == [0.0, 330.0, 660.0, 990.0]
    assert chunk_waveform(waveform, chunk_len=10, max_chunks=200)[0].shape == (100, 10)


def test_corruption_spec_is_part_of_the_cache_key(planted):
    clean = FeatureCache(planted["encoder"], planted["manifests"]["test"], planted["cache"], CHUNK_LEN, 64)
    corrupted = FeatureCache(planted["encoder"], planted["manifests"]["test"], planted["cache"], CHUNK_LEN, 64,
                             corruption=CorruptionSpec("reverb", 2))
    other_seed = FeatureCache(planted["encoder"], planted["manifests"]["test"], planted["cache"], CHUNK_LEN, 64,
                              corruption=CorruptionSpec("reverb", 2, seed=1))
    assert len({clean.folder, corrupted.folder, other_seed.folder}) == 3
    assert corrupted.folder.name.startswith("reverb-s2-")


# ----------------------------------------------------------------------------------
# Checkpoints, heads, stopping
# ----------------------------------------------------------------------------------
def save_checkpoint(encoder, output_folder: Path, name: str = "2026-01-01+00-00-00+00") -> Path:
    """A verified pretraining checkpoint of ``encoder`` in ``output_folder/save``; returns its encoder.ckpt."""
    from semisupcon_recipe.checkpoints import VerifiedCheckpointer

    return VerifiedCheckpointer(output_folder / "save", {"encoder": encoder}).save_checkpoint(name=name).paramfiles["encoder"]


def write_spec(output_folder: Path) -> Path:
    """The plain-data encoder_spec.yaml of :func:`tiny_encoder`."""
    spec = output_folder / "encoder_spec.yaml"
    spec.write_text(
        f"sample_rate: {SAMPLE_RATE}\nclip_len: {CHUNK_LEN}\nembedding_dim: 16\n"
        f"encoder:\n  class: semisupcon_recipe.encoders.SampleCNN\n"
        f"  kwargs: {{sample_rate: {SAMPLE_RATE}, channels: [8, 8, 8, 16], kernel: 4}}\n"
    )
    return spec


def test_heads_and_early_stopper():
    assert len(ProbeHead(16, 3).layers) == 1
    with pytest.raises(ValueError, match="dropout applies to the hidden layer"):
        ProbeHead(16, 3, dropout=0.5)
    stopper = EarlyStopper(limit=100, patience=3)
    for epoch in stopper:
        stopper.update_metric(1.0, 0.5)  # a plateau from the first epoch on
    assert stopper.current == 4 and stopper.best_epoch == 1
    stopper = EarlyStopper(limit=8, patience=3)
    for epoch in stopper:
        stopper.update_metric(1.0, 1.0 / epoch)  # saturated score, loss still falling
    assert stopper.current == 8 and stopper.best_epoch == 8


# ----------------------------------------------------------------------------------
# The recipe
# ----------------------------------------------------------------------------------
def write_planted_tasks_file(path: Path, manifests: dict, heads=("linear",), seeds=(1,)) -> Path:
    """A tasks file of the planted task: the shared blocks of hparams/probe/ with a small tuned grid."""
    blocks = REPO / "hparams" / "probe"
    path.write_text(
        f"training: !include:{blocks / 'tuned.yaml'}\n"
        "    {max_iterations: 200, grid: {weight_decay: [0.0001, 0.01], hidden_size: [16]}}\n"
        f"features: !include:{blocks / 'features.yaml'} {{}}\n"
        "heads:\n" + "".join(f"    {head}: !include:{blocks / head}.yaml {{}}\n" for head in heads)
        + f"seeds: {list(seeds)}\ntasks:\n"
        "    - {name: planted, kind: multiclass, "
        + ", ".join(f"{split}: {manifests[split]}" for split in SPLITS) + "}\n"
    )
    return path


def run_probe_recipe(monkeypatch, encoder_folder: Path, tasks_file: Path, out: Path, *extra: str,
                     task_name: str = "planted") -> dict:
    """Run recipes/Generic/probe/train.py as a user does; returns its results.json."""
    recipe = REPO / "recipes" / "Generic" / "probe" / "train.py"
    hparams = REPO / "recipes" / "Generic" / "probe" / "hparams" / "probe.yaml"
    overrides = [
        f"--tasks_file={tasks_file}", f"--task_name={task_name}", f"--pretrained_encoder={encoder_folder}",
        f"--output_folder={out}", f"--feature_cache={out / 'cache'}", "--device=cpu", "--noprogressbar", *extra,
    ]
    monkeypatch.setattr(sys, "argv", [str(recipe), str(hparams), *overrides])
    runpy.run_path(str(recipe), run_name="__main__")
    return json.loads(next(out.glob("*/seed_*/results.json")).read_text())


def test_probe_recipe_refuses_a_task_or_head_its_tasks_file_lacks(planted, tmp_path, monkeypatch, capsys):
    tasks_file = write_planted_tasks_file(tmp_path / "tasks.yaml", planted["manifests"])
    with pytest.raises(SystemExit) as stopped:
        run_probe_recipe(monkeypatch, tmp_path / "no_encoder", tasks_file, tmp_path / "out", task_name="plantd")
    assert stopped.value.code == 2 and "(tasks: ['planted'])" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        run_probe_recipe(monkeypatch, tmp_path / "no_encoder", tasks_file, tmp_path / "out", "--head_name=mlp")
    assert stopped.value.code == 2 and "(heads: ['linear'])" in capsys.readouterr().err


@pytest.mark.slow
def test_probe_recipe_runs_end_to_end_and_reuses_features(planted, tmp_path, monkeypatch):
    encoder_folder = tmp_path / "pretrained"
    save_checkpoint(tiny_encoder(), encoder_folder)
    write_spec(encoder_folder)
    tasks_file = write_planted_tasks_file(tmp_path / "tasks.yaml", planted["manifests"], heads=("linear", "mlp"),
                                          seeds=(1, 2, 3))
    results = run_probe_recipe(monkeypatch, encoder_folder, tasks_file, tmp_path / "out", "--head_name=mlp",
                               "--seed=2")
    assert results["head_name"] == "mlp" and results["protocol"] == "tuned" and results["test"]["accuracy"] >= 0.9
    assert results["chunk_len"] == CHUNK_LEN  # chunk_len: null is the clip length of the encoder spec
    assert [path.relative_to(tmp_path / "out") for path in (tmp_path / "out").glob("*/seed_*")] == [Path("mlp/seed_2")]
    assert (tmp_path / "out" / "hyperparams.yaml").is_file() and (tmp_path / "out" / "mlp" / "seed_2" / "probe.ckpt").is_file()
    assert len(list((tmp_path / "out" / "cache").glob("clean-*"))) == 3


TDNN_SPEC = f"""sample_rate: {SAMPLE_RATE}
clip_len: 1000
embedding_dim: 16
encoder:
  class: semisupcon_recipe.encoders.SpeechBrainLobeEncoder
  kwargs:
    sample_rate: {SAMPLE_RATE}
    embedding_dim: 16
    features:
      class: speechbrain.lobes.features.Fbank
      kwargs: {{n_mels: 24, sample_rate: {SAMPLE_RATE}, n_fft: 256}}
    lobe:
      class: speechbrain.lobes.models.Xvector.Xvector
      kwargs: {{in_channels: 24, tdnn_channels: [16, 16, 16, 16, 32], lin_neurons: 16}}
"""


@pytest.mark.slow
def test_probe_recipe_probes_an_x_vector_tdnn_run_like_semisupcon_evaluate(planted, tmp_path, monkeypatch):
    from semisupcon_recipe.encoder_spec import load_encoder_spec
    from semisupcon_recipe.evaluate import evaluate_encoder

    encoder_folder = tmp_path / "tdnn_run"
    encoder_folder.mkdir()
    (encoder_folder / "encoder_spec.yaml").write_text(TDNN_SPEC)
    torch.manual_seed(0)
    save_checkpoint(load_encoder_spec(encoder_folder)["encoder"], encoder_folder)
    tasks = write_planted_tasks_file(tmp_path / "tasks.yaml", planted["manifests"])
    recipe = run_probe_recipe(monkeypatch, encoder_folder, tasks, tmp_path / "recipe")
    assert recipe["chunk_len"] == 1000 and recipe["test"]["accuracy"] >= 0.6

    cli = evaluate_encoder(encoder_folder, tasks, tmp_path / "cli", cache=tmp_path / "recipe" / "cache", device="cpu")
    # one task definition, one probing path: the same features (shared cache), the same probe, the same scores
    assert cli["tasks"][0]["heads"]["linear"]["runs"][0]["test"] == recipe["test"]
    assert len(list((tmp_path / "recipe" / "cache").glob("clean-*"))) == 3
