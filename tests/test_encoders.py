"""Encoders: shapes, the paper SampleCNN's size, the SpeechBrain lobe adapter from yaml."""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.encoders import ProjectionHead, SampleCNN


def test_paper_samplecnn_size_and_shapes():
    encoder = SampleCNN()
    parameters = sum(p.numel() for p in encoder.parameters())
    assert 2.35e6 < parameters < 2.39e6
    assert encoder.input_length == 59049
    assert encoder(torch.randn(2, 59049)).shape == (2, 512)
    assert encoder.frames(torch.randn(1, 2 * 59049)).shape == (1, 2, 512)


def test_short_input_is_padded_and_wrong_rank_refused():
    encoder = SampleCNN(channels=(4, 4, 8))
    assert encoder(torch.randn(3, 10)).shape == (3, 8)
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(torch.randn(27))


def test_projection_head_has_no_biases():
    head = ProjectionHead(512, 512, 128)
    assert all(name.endswith("weight") for name, _ in head.named_parameters())
    assert head(torch.randn(5, 512)).shape == (5, 128)


def test_lobe_encoder_built_from_yaml_alone():
    yaml = """
sample_rate: 16000
n_mels: 40
embedding_dim: 64
encoder: !new:semisupcon_recipe.encoders.SpeechBrainLobeEncoder
    sample_rate: !ref <sample_rate>
    embedding_dim: !ref <embedding_dim>
    features: !new:speechbrain.lobes.features.Fbank
        n_mels: !ref <n_mels>
        sample_rate: !ref <sample_rate>
    normalize: !new:speechbrain.processing.features.InputNormalization
        norm_type: sentence
    lobe: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
        input_size: !ref <n_mels>
        channels: [32, 32, 32, 32, 96]
        attention_channels: 16
        lin_neurons: !ref <embedding_dim>
"""
    encoder = load_hyperpyyaml(yaml)["encoder"]
    embeddings = encoder(torch.randn(3, 16000))
    assert embeddings.shape == (3, 64)
    embeddings.sum().backward()
    assert all(p.grad is not None for p in encoder.lobe.parameters() if p.requires_grad)
