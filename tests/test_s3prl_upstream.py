"""s3prl upstream: registration, s3prl's contract, Featurizer, one s3prl.problem task end to end."""

from __future__ import annotations

import json
import math

import pytest
import soundfile
import torch
import torchaudio
import yaml
from interop_fixtures import exported_model, tone  # noqa: F401  (session fixture)

import semisupcon_recipe.interop.s3prl as upstream_module  # isort: skip  (applies the shims s3prl needs)
import s3prl.hub  # isort: skip
from s3prl.nn import Featurizer, S3PRLUpstream  # isort: skip
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop.export import export_untrained_encoder
from semisupcon_recipe.interop.windows import SlidingWindowEncoder

RATE = 16000


@pytest.fixture(scope="module")
def upstream(exported_model):
    return S3PRLUpstream("semisupcon_local", path_or_url=str(exported_model)).eval()


def expected_frames(num_samples: int, stride: int) -> int:
    return len(range(0, num_samples, stride))


def test_names_registered_on_the_hub():
    assert "semisupcon_local" in s3prl.hub.options()
    assert s3prl.hub.semisupcon_local is upstream_module.semisupcon_local
    assert not hasattr(s3prl.hub, "semisupcon")  # no model is shipped, so no default name


def test_contract_numbers(upstream, exported_model):
    manifest = load_exported(exported_model)[1]
    stride = manifest["hop"] * RATE // manifest["sample_rate"]
    stages = len(load_exported(exported_model)[0].stage_ends)  # stem, each block, last conv
    assert upstream.num_layers == stages > 1
    assert upstream.downsample_rates == [stride] * stages
    assert upstream.hidden_sizes == [manifest["embedding_dim"]] * stages


def test_layers_are_the_stages_of_the_encoder_and_the_last_is_the_embedding(upstream, exported_model):
    encoder, manifest = load_exported(exported_model)
    wave = torch.randn(RATE)
    with torch.no_grad():
        hidden, _ = upstream(wave.unsqueeze(0), torch.tensor([RATE]))
        frames, _ = SlidingWindowEncoder(encoder, manifest["window"], manifest["hop"]).frames([wave])
    torch.testing.assert_close(hidden[-1], frames, atol=1e-5, rtol=0)
    for lower, higher in zip(hidden[:-1], hidden[1:]):
        assert not torch.allclose(lower, higher)
    stem_width = encoder.network[0].out_channels  # narrower than the embedding: zero-padded to its width
    assert stem_width < manifest["embedding_dim"]
    assert hidden[0][..., :stem_width].abs().sum() > 0 and not hidden[0][..., stem_width:].any()


@pytest.mark.parametrize("seconds", [0.05, 1.0, 10.0])
def test_input_lengths_give_the_announced_frame_count(upstream, seconds):
    num_samples = int(seconds * RATE)
    with torch.no_grad():
        hidden, lengths = upstream(torch.randn(1, num_samples), torch.tensor([num_samples]))
    stride = upstream.downsample_rates[0]
    count = expected_frames(num_samples, stride)
    assert all(layer_lengths.tolist() == [count] for layer_lengths in lengths)
    assert all(layer.shape == (1, count, upstream.hidden_sizes[0]) for layer in hidden)
    assert all(torch.isfinite(layer).all() for layer in hidden)
    raw = upstream.upstream([torch.randn(num_samples)])["hidden_states"]  # no s3prl trimming or padding
    assert all(layer.shape[1] == count for layer in raw)


def test_batch_of_different_lengths_matches_single_items(upstream):
    lengths = [RATE * 3, RATE, 800]
    waves = [torch.randn(length) for length in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    with torch.no_grad():
        hidden, hidden_lengths = upstream(batch, torch.tensor(lengths))
        for row, (wave, count) in enumerate(zip(waves, hidden_lengths[-1].tolist())):
            alone, _ = upstream(wave.unsqueeze(0), torch.tensor([len(wave)]))
            assert count == expected_frames(len(wave), upstream.downsample_rates[0])
            assert torch.allclose(hidden[-1][row, :count], alone[-1][0, :count], atol=1e-5)


def test_deterministic_in_eval_mode(upstream):
    wave = torch.randn(2, RATE)
    with torch.no_grad():
        first, _ = upstream(wave, torch.tensor([RATE, RATE // 2]))
        second, _ = upstream(wave, torch.tensor([RATE, RATE // 2]))
    assert torch.equal(first[0], second[0])


def test_train_mode_has_the_same_layers_and_backpropagates(exported_model):
    trainable = S3PRLUpstream("semisupcon_local", path_or_url=str(exported_model)).train()
    hidden, _ = trainable(torch.randn(2, RATE), torch.tensor([RATE, RATE // 2]))
    assert len(hidden) == trainable.num_layers > 1
    hidden[-1].pow(2).mean().backward()
    gradients = [parameter.grad for parameter in trainable.parameters()]
    assert all(gradient is not None and torch.isfinite(gradient).all() for gradient in gradients)
    assert any(gradient.abs().sum() > 0 for gradient in gradients)


def test_featurizer_learns_a_weighted_sum_of_our_layers(exported_model):
    upstream = S3PRLUpstream("semisupcon_local", path_or_url=str(exported_model)).eval()
    featurizer = Featurizer(upstream)
    assert featurizer.output_size == upstream.hidden_sizes[0]
    assert featurizer.downsample_rate == upstream.downsample_rates[0]
    assert featurizer.weights.shape == (upstream.num_layers,)
    with torch.no_grad():
        hidden, lengths = upstream(torch.randn(2, RATE), torch.tensor([RATE, RATE // 4]))
    features, feature_lengths = featurizer(hidden, lengths)
    assert features.shape == (2, expected_frames(RATE, featurizer.downsample_rate), featurizer.output_size)
    assert feature_lengths.tolist() == [expected_frames(RATE, featurizer.downsample_rate),
                                        expected_frames(RATE // 4, featurizer.downsample_rate)]
    features.pow(2).mean().backward()
    assert featurizer.weights.grad is not None and featurizer.weights.grad.abs().min() > 0


def test_resamples_to_the_encoder_rate_with_integer_stride(tmp_path):
    exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", tmp_path, {"sample_rate": 22050})
    upstream = S3PRLUpstream("semisupcon_local", path_or_url=str(exported)).eval()
    encoder, manifest = load_exported(exported)
    stride = upstream.downsample_rates[0]
    assert stride * manifest["sample_rate"] == manifest["hop"] * RATE
    wave = torch.randn(RATE + 123)
    with torch.no_grad():
        hidden, lengths = upstream(wave.unsqueeze(0), torch.tensor([len(wave)]))
        at_encoder_rate = torchaudio.functional.resample(wave, RATE, manifest["sample_rate"])
        direct, _ = SlidingWindowEncoder(encoder, manifest["window"], manifest["hop"]).frames([at_encoder_rate])
    assert lengths[-1].item() == math.ceil(len(wave) / stride)
    assert torch.allclose(hidden[-1], direct, atol=1e-5)


def test_missing_checkpoint_is_a_clear_error():
    with pytest.raises(ValueError, match="semisupcon export"):
        S3PRLUpstream("semisupcon_local")


def write_hear_scene_task(folder, folds: int = 3, clips_per_fold: int = 4):
    """A HEAR-format k-fold scene task (two tone classes) with its 16000/ audio in place."""
    for fold in range(folds):
        meta = {}
        audio = folder / "16000" / f"fold{fold:02d}"
        audio.mkdir(parents=True)
        for index in range(clips_per_fold):
            label = ("low", "high")[index % 2]
            name = f"fold{fold}_{index}.wav"
            soundfile.write(audio / name, tone(220.0 if label == "low" else 1760.0, 0.5, seed=10 * fold + index), RATE)
            meta[name] = [label]
        (folder / f"fold{fold:02d}.json").write_text(json.dumps(meta))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")  # dcase_util, imported by s3prl's HEAR loader
def test_s3prl_problem_hear_gtzan_runs_end_to_end(exported_model, tmp_path):
    from s3prl.problem.common.hear_gtzan import HearGtzan

    write_hear_scene_task(tmp_path / "task")
    problem = HearGtzan()
    config = problem.default_config()
    config.update(target_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    config["prepare_data"].update(dataset_root=str(tmp_path / "task"), test_fold=0, num_folds=3)
    config["build_upstream"] = {"name": "semisupcon_local", "path_or_url": str(exported_model)}
    config["build_batch_sampler"]["train"]["batch_size"] = 4  # 8 training clips: no batch of one for BatchNorm
    config["train"].update(total_steps=2, log_step=1, eval_step=2, save_step=2)
    problem.run(**config, device="cpu", num_workers=0)
    results = list((tmp_path / "run" / "evaluate").rglob("result.yaml"))
    assert len(results) == 1
    metrics = yaml.safe_load(results[0].read_text())
    assert 0.0 <= metrics["top1_acc"] <= 1.0
    assert math.isfinite(metrics["loss"])
    assert (tmp_path / "run" / "train" / "valid_best").is_dir()
