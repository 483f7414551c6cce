"""The method's knobs that the README lists are command-line overrides of every pretraining recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

REPO = Path(__file__).resolve().parents[1]
PRETRAINING_YAMLS = sorted((REPO / "recipes").glob("*/pretrain/hparams/*.yaml"))


def load_with_command_line(yaml_path: Path, *arguments: str) -> dict:
    """What a recipe's train.py does: SpeechBrain's argument parsing, then hyperpyyaml with the overrides."""
    hparams_file, _, overrides = sb.parse_arguments(
        [str(yaml_path), "--labeled_manifest=l.csv", "--unlabeled_manifest=u.csv", "--output_folder=out", *arguments]
        + (["--data_folder=mtat", "--fma_folder=fma"] if "MagnaTagATune" in str(yaml_path) else [])
    )
    with open(hparams_file, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream, overrides)


@pytest.mark.parametrize("yaml_path", PRETRAINING_YAMLS, ids=lambda path: f"{path.parts[-4]}/{path.name}")
def test_temperature_threshold_views_and_shares_reach_the_objects_they_configure(yaml_path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the override output_folder=out lands here
    hparams = load_with_command_line(
        yaml_path, "--temperature=0.37", "--threshold=3", "--num_views=3", "--labeled_share=0.25",
        "--labeled_data_fraction=0.5", "--augment_severity=1", "--labeled_sampling=pairs",
    )
    assert hparams["loss"].temperature == pytest.approx(0.37)
    assert hparams["loss"].label_similarity.threshold == 3
    assert hparams["labeled_share"] == 0.25 and hparams["labeled_data_fraction"] == 0.5
    assert hparams["labeled_sampling"] == "pairs"  # read by pretraining.dataio_prep
    assert hparams["view_reader"].num_views == 3
    assert hparams["augment"].severity == 1
