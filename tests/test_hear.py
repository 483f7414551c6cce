"""HEAR API: attributes, shapes, dtype, timestamps, batch order, clips of any length."""

from __future__ import annotations

import pytest
import torch
from interop_fixtures import exported_model  # noqa: F401  (session fixture)

from semisupcon_recipe.interop import hear


@pytest.fixture(scope="module")
def model(exported_model):
    return hear.load_model(str(exported_model))


def test_model_attributes(model):
    assert model.sample_rate == 16000
    assert isinstance(model.scene_embedding_size, int) and model.scene_embedding_size == 64
    assert isinstance(model.timestamp_embedding_size, int) and model.timestamp_embedding_size == 64
    assert isinstance(model, torch.nn.Module) and not model.training


def test_load_model_needs_an_export_folder(tmp_path):
    with pytest.raises(ValueError, match="semisupcon export"):
        hear.load_model("")
    with pytest.raises(RuntimeError, match="export.json missing"):
        hear.load_model(str(tmp_path))


@pytest.mark.parametrize("seconds", [0.05, 0.3, 1.5, 10.0])
def test_timestamp_embeddings_contract(model, seconds):
    num_samples = int(seconds * model.sample_rate)
    audio = torch.randn(3, num_samples) * 0.1
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.dtype == torch.float32 and timestamps.dtype == torch.float32
    assert embeddings.shape[0] == timestamps.shape[0] == 3
    assert embeddings.shape[1] == timestamps.shape[1] >= 1
    assert embeddings.shape[2] == model.timestamp_embedding_size
    assert torch.isfinite(embeddings).all()
    duration_ms = 1000.0 * num_samples / model.sample_rate
    assert (timestamps >= 0).all() and (timestamps < duration_ms).all()
    assert torch.equal(timestamps, timestamps[:1].expand_as(timestamps))
    if timestamps.shape[1] > 1:
        steps = timestamps[0, 1:] - timestamps[0, :-1]
        assert torch.allclose(steps, steps[:1].expand_as(steps))
        assert steps[0] > 0
        assert timestamps[0, -1] + steps[0] >= duration_ms  # frames cover the whole clip


@pytest.mark.parametrize("seconds", [0.05, 1.5])
def test_scene_embeddings_contract(model, seconds):
    audio = torch.randn(4, int(seconds * model.sample_rate)) * 0.1
    scenes = hear.get_scene_embeddings(audio, model)
    assert scenes.shape == (4, model.scene_embedding_size) and scenes.dtype == torch.float32
    embeddings, _ = hear.get_timestamp_embeddings(audio, model)
    assert torch.allclose(scenes, embeddings.mean(dim=1), atol=1e-6)


def test_batch_order_is_preserved(model):
    audio = torch.stack([torch.sin(torch.arange(24000.0) * frequency) for frequency in (0.01, 0.05, 0.2)]) * 0.5
    batch = hear.get_scene_embeddings(audio, model)
    frames, _ = hear.get_timestamp_embeddings(audio, model)
    for row in range(3):
        alone = hear.get_scene_embeddings(audio[row : row + 1], model)
        assert torch.allclose(batch[row], alone[0], atol=1e-5)
        alone_frames, _ = hear.get_timestamp_embeddings(audio[row : row + 1], model)
        assert torch.allclose(frames[row], alone_frames[0], atol=1e-5)
    assert (batch[0] - batch[2]).abs().max() > 1e-3  # different clips, different embeddings


def test_wrong_audio_shape_is_refused(model):
    with pytest.raises(ValueError, match="n_sounds, n_samples"):
        hear.get_scene_embeddings(torch.zeros(16000), model)
