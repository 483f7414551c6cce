"""End to end: the joint recipes, SpeechBrain encoders in the Generic recipe, and
SemiSupCon continuing a SpeechBrain BEST-RQ run (each run: a couple of optimizer steps)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml

from pretrain_fixtures import make_tone_dataset
from semisupcon_recipe.cli import main as cli_main
from semisupcon_recipe.encoders import stage_embeddings
from semisupcon_recipe.interop import hear
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop.export import load_sliding_encoder
from semisupcon_recipe.interop.speechbrain_inference import SemiSupConEncoder
from speechbrain_ssl_reference import bestrq_modules, bestrq_recipe_loss, save_run

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "recipes" / "Generic" / "pretrain" / "train.py"
HPARAMS = ROOT / "recipes" / "Generic" / "pretrain" / "hparams"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return make_tone_dataset(tmp_path_factory.mktemp("tones"))


def train(manifests, yaml_name, output, *extra):
    labeled, unlabeled = manifests
    command = [
        sys.executable, str(TRAIN), str(HPARAMS / yaml_name), f"--labeled_manifest={labeled}",
        f"--unlabeled_manifest={unlabeled}", f"--output_folder={output}", "--device=cpu",
        "--number_of_epochs=1", "--batches_per_epoch=2", *extra,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def last_checkpoint(output):
    return max((Path(output) / "save").glob("CKPT+*"))


@pytest.mark.parametrize(
    "yaml_name, encoder_class, logged",
    [
        ("tiny_bestrq_semisupcon.yaml", "ConformerEncoder", ["ssl_loss", "semisupcon_loss", "ssl_accuracy"]),
        ("tiny_wav2vec2_semisupcon.yaml", "Wav2Vec2Encoder", ["ssl_loss", "semisupcon_loss", "ssl_diversity_loss"]),
        ("tiny_conformer.yaml", "ConformerEncoder", ["loss_labeled"]),
        ("tiny_beats.yaml", "BEATsEncoder", ["loss_labeled"]),
        ("tiny_cnn14.yaml", "Cnn14Encoder", ["loss_labeled"]),
    ],
)
def test_recipe_trains_exports_and_the_export_loads_in_every_interop_path(manifests, tmp_path, yaml_name, encoder_class, logged):
    output = tmp_path / "run"
    train(manifests, yaml_name, output)
    log = (output / "train_log.txt").read_text()
    assert "optimizer_step: 2" in log
    for name in logged:
        assert f"train {name}: " in log, name

    exported = tmp_path / "exported"
    assert cli_main(["export", str(output), str(exported)]) == 0
    encoder, metadata = load_exported(exported)
    assert type(encoder).__name__ == encoder_class
    trained = torch.load(last_checkpoint(output) / "encoder.ckpt", weights_only=True)
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, trained[key]), key

    audio = 0.3 * torch.randn(2, 20000, generator=torch.Generator().manual_seed(0))  # 1.25 s at 16 kHz
    sliding, _ = load_sliding_encoder(exported)
    with torch.no_grad():
        frames, counts = sliding.frames(audio)
    assert frames.shape[0] == 2 and frames.shape[-1] == metadata["embedding_dim"] and counts.tolist() == [frames.shape[1]] * 2
    assert torch.isfinite(frames).all()
    model = hear.load_model(str(exported))
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.shape == (2, model.scene_embedding_size)
    assert torch.allclose(scene, frames.mean(dim=1), atol=1e-5)

    inference = SemiSupConEncoder.from_hparams(source=str(exported), savedir=str(tmp_path / "pretrained"))
    assert torch.allclose(inference.encode_batch(audio, torch.ones(2)), scene, atol=1e-5)

    import semisupcon_recipe.interop.s3prl  # noqa: F401  (shims, then registers the upstream)
    from s3prl.nn import S3PRLUpstream

    upstream = S3PRLUpstream("semisupcon_local", path_or_url=str(exported)).eval()
    with torch.no_grad():
        hidden, hidden_lengths = upstream(audio, torch.LongTensor([20000, 20000]))
    assert hidden[-1].shape[0] == 2 and hidden[-1].shape[-1] == metadata["embedding_dim"]
    assert torch.isfinite(hidden[-1]).all()
    with torch.no_grad():  # one s3prl layer per stage of the encoder (one for encoders without stages)
        assert len(hidden) == len(stage_embeddings(encoder, audio[:, : metadata["window"]]))


def speechbrain_bestrq_run(folder, manifests, steps=2):
    """A tiny BEST-RQ run as SpeechBrain's recipe trains and checkpoints it (recoverable names included)."""
    import soundfile

    torch.manual_seed(3)
    modules = bestrq_modules()
    trainable = list(modules["model"].parameters()) + list(modules["linear"].parameters())
    optimizer = torch.optim.AdamW(trainable, lr=0.01)
    paths = [line.split(",")[2] for line in Path(manifests[1]).read_text().splitlines()[1:9]]
    signals = [torch.from_numpy(soundfile.read(path, dtype="float32")[0][:8000]) for path in paths]
    for _ in range(steps):
        loss = bestrq_recipe_loss(modules, signals)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    recoverables = {"model": modules["model"], "normalize": modules["normalize"],
                    "quantizer": modules["Quantizer"], "linear": modules["linear"]}
    save_run(folder, recoverables, valid_loss=loss.item())
    return {key: value.clone() for key, value in modules["model"].state_dict().items()}


def test_semisupcon_run_starts_from_a_speechbrain_bestrq_run_and_changes_its_weights(manifests, tmp_path):
    bestrq_weights = speechbrain_bestrq_run(tmp_path / "bestrq", manifests)
    output = tmp_path / "semisupcon"
    train(manifests, "tiny_conformer.yaml", output, f"--ssl_run_folder={tmp_path / 'bestrq'}")
    assert (output / "ssl_init" / "model.ckpt").is_file()  # collected by SpeechBrain's Pretrainer

    overrides = {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv", "output_folder": str(tmp_path / "fresh")}
    with open(HPARAMS / "tiny_conformer.yaml", encoding="utf-8") as stream:
        fresh = load_hyperpyyaml(stream, overrides)["modules"]["encoder"].lobe.state_dict()  # what the run had without the BEST-RQ run
    trained = torch.load(last_checkpoint(output) / "encoder.ckpt", weights_only=True)
    weights = [key for key, value in bestrq_weights.items() if value.is_floating_point() and value.numel() > 1 and "pe" not in key.split(".")[-1]]
    changed = [key for key in weights if not torch.equal(trained[f"lobe.{key}"], bestrq_weights[key])]
    assert len(changed) >= len(weights) // 2  # SemiSupCon trained them
    distance_to_bestrq = sum((trained[f"lobe.{key}"] - bestrq_weights[key]).norm() for key in weights)
    distance_to_fresh = sum((trained[f"lobe.{key}"] - fresh[key]).norm() for key in weights)
    assert distance_to_bestrq < 0.2 * distance_to_fresh  # two steps from the BEST-RQ weights, far from a fresh start
    state = yaml.safe_load((last_checkpoint(output) / "CKPT.yaml").read_text())
    assert state["optimizer_step"] == 2
