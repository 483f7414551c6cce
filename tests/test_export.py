"""Export: folder contents, checkpoint choice, weights integrity, offline round trip in a fresh process."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from interop_fixtures import REPO, exported_model  # noqa: F401  (session fixture)

from semisupcon_recipe.checkpoints import CheckpointError, VerifiedCheckpointer, find_checkpoint
from semisupcon_recipe.cli import main as cli_main
from semisupcon_recipe.encoder_spec import load_encoder_spec, write_encoder_spec
from semisupcon_recipe.exported import load_encoder_weights, load_exported
from semisupcon_recipe.interop.export import choose_hop, export_checkpoint, stride_unit

TINY_OVERRIDES = {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}

NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""


def fake_run(folder: Path, metas: list[dict], sample_rate: int | None = None) -> Path:
    """A pretraining output folder with a spec and one checkpoint per meta (random weights)."""
    overrides = dict(TINY_OVERRIDES, **({"sample_rate": sample_rate} if sample_rate else {}))
    write_encoder_spec(REPO / "recipes/Generic/pretrain/hparams/tiny_cpu.yaml", overrides, folder)
    checkpointer = VerifiedCheckpointer(folder / "save", {"encoder": load_encoder_spec(folder)["encoder"]})
    for meta in metas:
        checkpointer.save_checkpoint(meta=meta)
    return folder


def copy_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_export_folder_holds_yaml_safetensors_and_manifest_only(exported_model):
    assert sorted(path.name for path in exported_model.iterdir()) == ["encoder.safetensors", "export.json", "hyperparams.yaml"]
    raw = (exported_model / "encoder.safetensors").read_bytes()
    header_length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_length])
    assert "network.0.weight" in header  # a safetensors header, not a pickle
    manifest = json.loads((exported_model / "export.json").read_text())
    assert (manifest["sample_rate"], manifest["window"], manifest["hop"], manifest["embedding_dim"]) == (16000, 8000, 4000, 64)
    text = (exported_model / "hyperparams.yaml").read_text()
    for line in ("sample_rate: 16000", "window: 8000", "hop: 4000", "embedding_dim: 64", "  class: semisupcon_recipe.encoders.SampleCNN"):
        assert line in text
    assert "!" not in text  # plain data: no yaml tag, nothing to execute


def test_exported_weights_equal_the_checkpoint(exported_model):
    encoder, manifest = load_exported(exported_model)
    assert not encoder.training
    checkpoint = torch.load(Path(manifest["source_checkpoint"]) / "encoder.ckpt", weights_only=True)
    exported = encoder.state_dict()
    assert exported.keys() == checkpoint.keys()
    for name, tensor in checkpoint.items():
        assert torch.equal(exported[name], tensor), name


def test_round_trip_in_fresh_process_without_network(exported_model, tmp_path):
    code = NO_NETWORK + f"""
import json, torch
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop.speechbrain_inference import SemiSupConEncoder
from semisupcon_recipe.interop.windows import SlidingWindowEncoder
encoder, manifest = load_exported({str(exported_model)!r})
waves = torch.sin(torch.arange(2 * 12000, dtype=torch.float32).reshape(2, 12000) / 7.0)
with torch.no_grad():
    direct = SlidingWindowEncoder(encoder, manifest["window"], manifest["hop"]).track(waves)
    speechbrain = SemiSupConEncoder.from_hparams(source={str(exported_model)!r}, savedir={str(tmp_path / "sb")!r}).encode_batch(waves)
print(json.dumps({{"direct": direct.tolist(), "speechbrain": speechbrain.tolist()}}))
"""
    environment = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

    encoder, manifest = load_exported(exported_model)
    waves = torch.sin(torch.arange(2 * 12000, dtype=torch.float32).reshape(2, 12000) / 7.0)
    with torch.no_grad():
        here = SlidingWindowEncoder(encoder, manifest["window"], manifest["hop"]).track(waves)
    assert torch.allclose(torch.tensor(fresh["direct"]), here, atol=1e-6)
    assert torch.allclose(torch.tensor(fresh["speechbrain"]), here, atol=1e-6)


def test_network_guard_really_blocks(tmp_path):
    code = NO_NETWORK + "import socket\nsocket.create_connection(('example.com', 80))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "network access attempted" in result.stderr


def test_truncated_weights_are_refused(exported_model, tmp_path):
    folder = copy_export(exported_model, tmp_path / "truncated")
    weights = folder / "encoder.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or was modified"):
        load_exported(folder)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_encoder_weights(torch.nn.Linear(1, 1), weights)  # no recorded sha256: safetensors itself refuses


def test_tampered_weights_are_refused(exported_model, tmp_path):
    folder = copy_export(exported_model, tmp_path / "tampered")
    weights = folder / "encoder.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte inside the last tensor
    weights.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        load_exported(folder)


def test_manifest_and_yaml_must_agree(exported_model, tmp_path):
    folder = copy_export(exported_model, tmp_path / "edited")
    manifest = json.loads((folder / "export.json").read_text())
    manifest["hop"] = 2000
    (folder / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="disagree on hop"):
        load_exported(folder)


def test_incomplete_export_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="export.json missing"):
        load_exported(tmp_path)


def test_best_valid_loss_wins_else_latest(tmp_path):
    with_loss = fake_run(tmp_path / "with_loss", [{"loss": 2.0}, {"loss": 1.0}, {"loss": 3.0}])
    chosen = find_checkpoint(with_loss)
    assert chosen.meta["loss"] == 1.0
    assert find_checkpoint(with_loss / "save").path == chosen.path
    assert find_checkpoint(chosen.path).path == chosen.path
    latest_run = fake_run(tmp_path / "train_only", [{"train_loss": 1.0}, {"train_loss": 5.0}])
    assert find_checkpoint(latest_run).meta["train_loss"] == 5.0


def test_clear_errors_for_missing_checkpoint_or_spec(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        export_checkpoint(tmp_path / "empty", tmp_path / "out")
    run = fake_run(tmp_path / "run", [{}])
    (run / "encoder_spec.yaml").rename(tmp_path / "elsewhere.yaml")
    with pytest.raises(CheckpointError, match="--encoder-spec"):
        export_checkpoint(run, tmp_path / "out")
    exported = export_checkpoint(run, tmp_path / "out", encoder_spec=tmp_path / "elsewhere.yaml")
    assert load_exported(exported)[1]["embedding_dim"] == 64


def test_hop_is_a_whole_number_of_16khz_samples():
    for sample_rate in (8000, 16000, 22050, 24000, 44100, 48000):
        for window in (8000, 59049):
            hop = choose_hop(sample_rate, window)
            assert hop % stride_unit(sample_rate) == 0 and hop > 0
            assert (hop * 16000) % sample_rate == 0
            assert abs(hop - window / 2) <= stride_unit(sample_rate) / 2


def test_cli_export_with_hop_and_overwrite(tmp_path, capsys):
    run = fake_run(tmp_path / "run", [{}], sample_rate=22050)
    out = tmp_path / "exported"
    assert cli_main(["export", str(run), str(out), "--hop", "0.1"]) == 0
    manifest = load_exported(out)[1]
    assert (manifest["sample_rate"], manifest["hop"]) == (22050, 2205)
    assert "hop 0.1 s = 2205 samples" in capsys.readouterr().out
    assert cli_main(["export", str(run), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["export", str(run), str(out), "--overwrite"]) == 0
    assert load_exported(out)[1]["hop"] == choose_hop(22050, 8000)


def test_the_export_command_registers_without_importing_torch_or_speechbrain():
    code = "import sys, semisupcon_recipe.interop.export, semisupcon_recipe.embed; print(sorted({'torch', 'speechbrain'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]
