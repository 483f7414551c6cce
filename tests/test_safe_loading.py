"""Loading a model folder someone else wrote runs no code, unless the user opts in.

Every loader of an export folder (``semisupcon embed``, HEAR ``load_model``, the s3prl
upstream, ``SemiSupConEncoder.from_hparams``, ``semisupcon evaluate --model``) and
of a run folder's ``encoder_spec.yaml`` (``semisupcon export``, ``evaluate``) is given a
file with a planted ``!apply:os.system`` that would create a marker file: each refuses
it, names the file and the tag, and the marker never appears. Classes outside the
allow-list are refused before they are imported; ``trust_code`` / ``--trust-code``
builds an encoder class of the user's own.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import soundfile
import torch
import yaml
from interop_fixtures import REPO, exported_model, tone  # noqa: F401  (session fixture)
from test_evaluate import planted_task, write_tasks_file

from semisupcon_recipe.checkpoints import CheckpointError, VerifiedCheckpointer, load_encoder_from_checkpoint, sha256_of
from semisupcon_recipe.cli import main as cli_main
from semisupcon_recipe.encoder_spec import UnsafeDescriptionError, load_encoder_spec, write_encoder_spec
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop import hear
from semisupcon_recipe.interop.speechbrain_inference import SemiSupConEncoder

TINY_YAML = REPO / "recipes" / "Generic" / "pretrain" / "hparams" / "tiny_cpu.yaml"
TINY_OVERRIDES = {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}


def plant(path: Path, marker: Path) -> None:
    """Add a line to a yaml file that, loaded with hyperpyyaml, would create ``marker``."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(f"\nsurprise: !apply:os.system ['touch {marker}']\n")


def rehash(folder: Path) -> None:
    """Record the current description's sha256 in export.json, as a malicious author would."""
    record = json.loads((folder / "export.json").read_text())
    record["description_sha256"] = sha256_of(folder / "hyperparams.yaml")
    (folder / "export.json").write_text(json.dumps(record))


@pytest.fixture
def planted_export(exported_model, tmp_path):
    """A copy of the export whose hyperparams.yaml carries a payload, its hash updated to match."""
    folder = shutil.copytree(exported_model, tmp_path / "planted")
    marker = tmp_path / "marker"
    plant(folder / "hyperparams.yaml", marker)
    rehash(folder)
    return folder, marker


@pytest.fixture
def planted_run(tmp_path):
    """A run folder (spec + verified checkpoint) whose encoder_spec.yaml carries a payload."""
    run = tmp_path / "run"
    write_encoder_spec(TINY_YAML, TINY_OVERRIDES, run)
    VerifiedCheckpointer(run / "save", {"encoder": load_encoder_spec(run)["encoder"]}).save_checkpoint()
    marker = tmp_path / "marker"
    plant(run / "encoder_spec.yaml", marker)
    return run, marker


def test_a_planted_tag_in_an_export_runs_in_no_loader(planted_export, tmp_path, capsys):
    folder, marker = planted_export
    loaders = {
        "load_exported": lambda: load_exported(folder),
        "hear": lambda: hear.load_model(str(folder)),
        "speechbrain": lambda: SemiSupConEncoder.from_hparams(source=str(folder), savedir=str(tmp_path / "sb")),
        "evaluate": lambda: load_encoder_from_checkpoint(folder),
        "trusted": lambda: load_exported(folder, trust_code=True),  # the opt-in accepts classes, never tags
    }
    for name, load in loaders.items():
        with pytest.raises(UnsafeDescriptionError, match=r"hyperparams.yaml: the tag !apply:os.system is refused") as error:
            load()
        assert "trust_code=True" in str(error.value), name
    soundfile.write(tmp_path / "clip.wav", tone(440.0, 0.5), 16000)
    assert cli_main(["embed", str(tmp_path / "clip.wav"), "--model", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "!apply:os.system" in capsys.readouterr().err
    assert not marker.exists()


def test_a_planted_tag_in_an_export_runs_not_in_the_s3prl_upstream(planted_export):
    import semisupcon_recipe.interop.s3prl  # noqa: F401  (compatibility shims, then registers the upstream)
    from s3prl.nn import S3PRLUpstream

    folder, marker = planted_export
    with pytest.raises(UnsafeDescriptionError, match="!apply:os.system"):
        S3PRLUpstream("semisupcon_local", path_or_url=str(folder))
    assert not marker.exists()


def test_a_planted_tag_in_a_run_spec_runs_neither_in_export_nor_in_evaluate(planted_run, tmp_path, capsys):
    run, marker = planted_run
    assert cli_main(["export", str(run), str(tmp_path / "exported")]) == 2
    assert "encoder_spec.yaml: the tag !apply:os.system is refused" in capsys.readouterr().err
    for trust_code in (False, True):  # the opt-in accepts classes, never tags
        with pytest.raises(UnsafeDescriptionError, match="encoder_spec.yaml: the tag !apply:os.system"):
            load_encoder_from_checkpoint(run, trust_code=trust_code)
    manifests = {split: tmp_path / f"{split}.csv" for split in ("train", "valid", "test")}
    for path in manifests.values():
        path.write_text("ID,duration,wav,labels\n")
    tasks = write_tasks_file(tmp_path / "tasks.yaml", [planted_task(manifests)], seeds=[1])
    assert cli_main(["evaluate", "--model", str(run), "--tasks", str(tasks), "--out", str(tmp_path / "eval"), "--device", "cpu"]) == 2
    assert "semisupcon evaluate: error: " in (error := capsys.readouterr().err) and "the tag !apply:os.system is refused" in error
    assert not marker.exists()


def test_a_class_outside_the_allow_list_is_refused_before_it_is_imported(exported_model, tmp_path):
    folder = shutil.copytree(exported_model, tmp_path / "popen")
    marker = tmp_path / "marker"
    description = yaml.safe_load((folder / "hyperparams.yaml").read_text())
    description["encoder"] = {"class": "subprocess.Popen", "kwargs": {"args": ["touch", str(marker)]}}
    (folder / "hyperparams.yaml").write_text(yaml.safe_dump(description))
    rehash(folder)
    sys.modules.pop("this", None)
    for bad_class in ("subprocess.Popen", "this.Nothing"):  # importing `this` prints: it must not even be imported
        description["encoder"]["class"] = bad_class
        (folder / "hyperparams.yaml").write_text(yaml.safe_dump(description))
        rehash(folder)
        with pytest.raises(UnsafeDescriptionError, match=rf"names the class {bad_class}, which is not among .*trust_code=True"):
            load_exported(folder)
    assert "this" not in sys.modules and not marker.exists()


def test_a_modified_description_fails_its_recorded_hash(exported_model, tmp_path):
    folder = shutil.copytree(exported_model, tmp_path / "edited")
    text = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(text.replace("kernel: 3", "kernel: 2"))
    with pytest.raises(CheckpointError, match=r"hyperparams.yaml does not match the sha256 recorded in .*export.json"):
        load_exported(folder)
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        SemiSupConEncoder.from_hparams(source=str(folder))


CUSTOM_ENCODER = '''
import torch


class MeanPoolEncoder(torch.nn.Module):
    """A user's own encoder: one linear layer on frames of the waveform."""

    def __init__(self, frame: int, embedding_dim: int, sample_rate: int = 16000):
        super().__init__()
        self.frame, self.embedding_dim, self.sample_rate = frame, embedding_dim, sample_rate
        self.linear = torch.nn.Linear(frame, embedding_dim)

    def forward(self, waveforms):
        frames = waveforms[:, : waveforms.shape[1] // self.frame * self.frame].reshape(waveforms.shape[0], -1, self.frame)
        return self.linear(frames).mean(dim=1)
'''


@pytest.fixture
def custom_encoder_module(tmp_path, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(CUSTOM_ENCODER)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_encoders.MeanPoolEncoder"
    sys.modules.pop("my_encoders", None)


def test_the_trust_code_opt_in_builds_a_class_of_your_own(custom_encoder_module, tmp_path, capsys):
    run = tmp_path / "custom_run"
    run.mkdir()
    spec = {"sample_rate": 16000, "clip_len": 4000, "embedding_dim": 8,
            "encoder": {"class": custom_encoder_module, "kwargs": {"frame": 400, "embedding_dim": 8}}}
    (run / "encoder_spec.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(UnsafeDescriptionError, match="names the class my_encoders.MeanPoolEncoder"):
        load_encoder_spec(run)
    encoder = load_encoder_spec(run, trust_code=True)["encoder"]
    VerifiedCheckpointer(run / "save", {"encoder": encoder}).save_checkpoint()

    exported = tmp_path / "custom_export"
    assert cli_main(["export", str(run), str(exported)]) == 2
    assert "--trust-code" in capsys.readouterr().err
    assert cli_main(["export", str(run), str(exported), "--trust-code"]) == 0
    with pytest.raises(UnsafeDescriptionError, match="MeanPoolEncoder"):
        load_exported(exported)
    loaded, record = load_exported(exported, trust_code=True)
    assert torch.equal(loaded.linear.weight, encoder.linear.weight) and record["embedding_dim"] == 8
    model = SemiSupConEncoder.from_hparams(source=str(exported), trust_code=True)
    assert model.encode_batch(torch.randn(2, 8000)).shape == (2, 8)
    assert hear.load_model(str(exported), trust_code=True).scene_embedding_size == 8
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, torch.randn(8000).numpy() * 0.1, 16000)
    assert cli_main(["embed", str(clip), "--model", str(exported), "--out", str(tmp_path / "e")]) == 2
    assert cli_main(["embed", str(clip), "--model", str(exported), "--out", str(tmp_path / "e"), "--trust-code"]) == 0
    assert (tmp_path / "e" / "clip.wav.npy").is_file()


def test_export_and_run_descriptions_are_plain_data(exported_model):
    for path in (exported_model / "hyperparams.yaml", exported_model.parent / "pretrain" / "encoder_spec.yaml"):
        document = yaml.safe_load(path.read_text())  # raises on any tag
        assert document["encoder"]["class"] == "semisupcon_recipe.encoders.SampleCNN"


SHIPPED_ENCODER_YAMLS = sorted((REPO / "recipes" / "Generic" / "pretrain" / "hparams").glob("tiny_*.yaml")) + [
    REPO / "semisupcon_recipe" / "demo" / "pretrain.yaml"
]


@pytest.mark.parametrize("hparams", SHIPPED_ENCODER_YAMLS, ids=lambda path: path.name)
def test_every_shipped_encoder_describes_as_allow_listed_plain_data(hparams, tmp_path):
    write_encoder_spec(hparams, {**TINY_OVERRIDES, "output_folder": str(tmp_path)}, tmp_path)
    assert "!" not in (tmp_path / "encoder_spec.yaml").read_text()
    spec = load_encoder_spec(tmp_path)  # the safe loader: allow-listed classes only
    with torch.no_grad():
        assert spec["encoder"].eval()(torch.randn(2, spec["clip_len"])).shape == (2, spec["embedding_dim"])
