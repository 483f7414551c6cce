"""SemiSupCon mixed with SpeechBrain's BEST-RQ and wav2vec 2.0 (semisupcon_recipe.ssl_mixing)."""

from pathlib import Path

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.checkpoints import CheckpointError
from semisupcon_recipe.data import ViewBatch
from semisupcon_recipe.ssl_mixing import JointSSLBrain, initialise_from_ssl_run, seeded_randomness
from speechbrain_ssl_reference import (
    bestrq_modules,
    bestrq_recipe_loss,
    save_run,
    wav2vec2_modules,
    wav2vec2_recipe_loss,
)

ROOT = Path(__file__).resolve().parents[1]
HPARAMS = ROOT / "recipes" / "Generic" / "pretrain" / "hparams"
BESTRQ_TINY = HPARAMS / "tiny_bestrq_semisupcon.yaml"
WAV2VEC2_TINY = HPARAMS / "tiny_wav2vec2_semisupcon.yaml"


def load(yaml_path, tmp_path, **overrides):
    overrides = {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv", "output_folder": str(tmp_path / "run"), **overrides}
    with open(yaml_path, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream, overrides)


def joint_brain(hparams):
    brain = JointSSLBrain(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                          run_opts={"device": "cpu"})
    brain.modules.train()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)  # as Brain.fit does before the first batch
    return brain


def view_batch(num_clips=4, num_views=2, length=8000):
    """A batch shaped like the Generic pipeline's: (B, N, L) views, class labels, half labeled."""
    generator = torch.Generator().manual_seed(7)
    views = 0.3 * torch.randn(num_clips, num_views, length, generator=generator)
    labels = torch.tensor([0, 1, -1, -1])[:num_clips]
    return ViewBatch([f"clip{i}" for i in range(num_clips)], views, labels, labels >= 0)


def joint_loss(brain, batch):
    torch.manual_seed(0)  # dropout of the SemiSupCon branch draws from the global generator
    return brain.compute_objectives(brain.compute_forward(batch, sb.Stage.TRAIN), batch, sb.Stage.TRAIN)


def test_bestrq_joint_loss_with_semisupcon_weight_zero_is_speechbrains_bestrq_loss(tmp_path):
    hparams = load(BESTRQ_TINY, tmp_path, semisupcon_weight=0.0)
    brain = joint_brain(hparams)
    batch = view_batch()
    encoder, objective = hparams["modules"]["encoder"], hparams["modules"]["ssl_objective"]
    recipe_modules = {
        "compute_features": encoder.features, "normalize": encoder.normalize, "CNN": encoder.lobe[0],
        "wrapper": encoder.lobe[1], "Quantizer": objective.quantizer, "linear": objective.linear,
    }
    with seeded_randomness(brain._ssl_seed()):
        expected = bestrq_recipe_loss(recipe_modules, list(batch.views.reshape(-1, 8000)))
    assert joint_loss(brain, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    assert expected.item() > 1.0  # cross-entropy over 64 codes, far from a degenerate 0


def test_wav2vec2_joint_loss_with_semisupcon_weight_zero_is_speechbrains_wav2vec2_loss(tmp_path):
    hparams = load(WAV2VEC2_TINY, tmp_path, semisupcon_weight=0.0)
    brain = joint_brain(hparams)
    batch = view_batch()
    encoder, objective = hparams["modules"]["encoder"], hparams["modules"]["ssl_objective"]
    recipe_modules = {
        "latent_extractor": encoder.latent_extractor, "latent_encoder": encoder.latent_encoder,
        "feat_proj": objective.feat_proj, "target_quantiser": objective.target_quantiser,
    }
    with seeded_randomness(brain._ssl_seed()):
        expected = wav2vec2_recipe_loss(recipe_modules, list(batch.views.reshape(-1, 8000)))
    actual = joint_loss(brain, batch) / hparams["ssl_weight"]
    assert actual.item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 10.0  # summed over hundreds of masked frames


@pytest.mark.parametrize("yaml_path", [BESTRQ_TINY, WAV2VEC2_TINY], ids=["bestrq", "wav2vec2"])
def test_joint_loss_with_ssl_weight_zero_is_the_semisupcon_loss(tmp_path, yaml_path):
    hparams = load(yaml_path, tmp_path, ssl_weight=0.0)
    brain = joint_brain(hparams)
    batch = view_batch()
    encoder, projector = hparams["modules"]["encoder"], hparams["modules"]["projector"]
    torch.manual_seed(0)
    views = hparams["augment"](batch.views.reshape(8, 8000), generator=brain._augment_generator())
    projections = projector(encoder(views))
    expected = hparams["loss"](projections, torch.arange(4).repeat_interleave(2),
                               batch.labels.repeat_interleave(2), batch.labeled.repeat_interleave(2))
    assert joint_loss(brain, batch).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("yaml_path", [BESTRQ_TINY, WAV2VEC2_TINY], ids=["bestrq", "wav2vec2"])
def test_joint_loss_is_the_weighted_sum_of_the_two_pure_losses(tmp_path, yaml_path):
    batch = view_batch()
    losses = {}
    for name, weights in {"ssl": (1.0, 0.0), "semisupcon": (0.0, 1.0), "joint": (0.3, 0.7)}.items():
        torch.manual_seed(1)  # the same initial weights in the three configurations
        hparams = load(yaml_path, tmp_path / name, ssl_weight=weights[0], semisupcon_weight=weights[1])
        losses[name] = joint_loss(joint_brain(hparams), batch).item()
    assert losses["joint"] == pytest.approx(0.3 * losses["ssl"] + 0.7 * losses["semisupcon"], rel=1e-5)


def test_both_weights_zero_is_refused(tmp_path):
    hparams = load(BESTRQ_TINY, tmp_path, ssl_weight=0.0, semisupcon_weight=0.0)
    with pytest.raises(ValueError, match="not both 0"):
        joint_brain(hparams)


def test_bestrq_masks_longer_than_the_frame_stack_are_refused():
    from semisupcon_recipe.ssl_mixing import BestRQObjective

    with pytest.raises(ValueError, match="mask_length"):
        BestRQObjective(encoder_dim=8, n_mels=8, frame_stack=4, mask_length=8)


def test_encoder_starts_from_the_weights_of_a_speechbrain_wav2vec2_run(tmp_path):
    modules = wav2vec2_modules()
    save_run(tmp_path / "w2v", modules, valid_loss=1.0)
    hparams = load(WAV2VEC2_TINY, tmp_path, ssl_run_folder=str(tmp_path / "w2v"))
    encoder = hparams["modules"]["encoder"]
    for name in ("latent_extractor", "latent_encoder"):
        for key, value in modules[name].state_dict().items():
            assert torch.equal(getattr(encoder, name).state_dict()[key], value), f"{name}.{key}"


def test_a_run_of_another_architecture_is_refused_with_the_file_named(tmp_path):
    save_run(tmp_path / "brq", bestrq_modules(d_model=16), valid_loss=1.0)
    with pytest.raises(CheckpointError, match="model.ckpt does not fit"):
        load(BESTRQ_TINY, tmp_path, ssl_run_folder=str(tmp_path / "brq"))


def test_a_folder_without_checkpoints_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        initialise_from_ssl_run(torch.nn.Linear(1, 1), tmp_path, {"model": ""}, tmp_path / "init")


@pytest.mark.parametrize(
    "yaml_name, sizes",
    [
        ("bestrq_semisupcon.yaml", {"d_model": 576, "nhead": 8, "num_layers": 12, "d_ffn": 2048}),
        ("wav2vec2_semisupcon.yaml", {"embedding_dim": 768, "num_layers": 12, "nhead": 8, "d_ffn": 3072}),
    ],
)
def test_joint_yaml_with_speechbrains_sizes_builds_the_architecture_of_speechbrains_recipe(tmp_path, yaml_name, sizes):
    """The command-line sizes the docs give make the encoder of SpeechBrain's LibriSpeech recipe."""
    hparams = load(HPARAMS / yaml_name, tmp_path, **sizes)
    encoder = hparams["modules"]["encoder"]
    if yaml_name.startswith("bestrq"):
        reference = bestrq_modules(n_mels=80, channels=(128, 32), d_model=576, nhead=8, num_layers=12, d_ffn=2048)
        pairs = [(encoder.lobe, reference["model"])]
    else:
        reference = wav2vec2_modules(channels=(512,) * 7, kernels=(11, 3, 3, 3, 3, 3, 3), strides=(5, 2, 2, 2, 2, 3, 3),
                                     d_model=768, nhead=8, num_layers=12, d_ffn=3072)
        pairs = [(encoder.latent_extractor, reference["latent_extractor"]), (encoder.latent_encoder, reference["latent_encoder"])]
    for ours, theirs in pairs:
        assert {key: value.shape for key, value in ours.state_dict().items()} == {
            key: value.shape for key, value in theirs.state_dict().items()
        }
