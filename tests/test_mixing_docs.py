"""docs/mixing.md: its example recipe runs, and its snippets are the example's code."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pretrain_fixtures import make_tone_dataset

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "mixing.md"
EXAMPLE = ROOT / "docs" / "examples" / "mixing"


def test_every_python_and_yaml_snippet_of_the_mixing_doc_is_code_of_the_example_recipe():
    snippets = re.findall(r"```(python|yaml)\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    sources = {"python": (EXAMPLE / "train.py").read_text(), "yaml": (EXAMPLE / "hparams.yaml").read_text()}
    assert {kind for kind, _ in snippets} == {"python", "yaml"}
    for kind, text in snippets:
        assert text in sources[kind], f"this {kind} snippet of docs/mixing.md is not in the example:\n{text}"


@pytest.mark.slow
def test_the_example_recipe_trains_with_its_own_loss_plus_semisupcon(tmp_path):
    labeled, unlabeled = make_tone_dataset(tmp_path / "tones")
    output = tmp_path / "run"
    command = [
        sys.executable, str(EXAMPLE / "train.py"), str(EXAMPLE / "hparams.yaml"), f"--labeled_manifest={labeled}",
        f"--unlabeled_manifest={unlabeled}", f"--output_folder={output}", "--device=cpu", "--number_of_epochs=2",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [float(value) for value in re.findall(r"train loss: ([\d.e+-]+)", (output / "train_log.txt").read_text())]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    assert (output / "labeled_subset.txt").is_file()  # the p_s draw of the SemiSupCon data
    checkpoint = max((output / "save").glob("CKPT+*"))
    assert {"encoder.ckpt", "classifier.ckpt", "projector.ckpt"} <= {path.name for path in checkpoint.iterdir()}
