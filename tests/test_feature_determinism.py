"""Repeated feature extractions with the same settings give bit-identical features."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.Xvector import Xvector
from speechbrain.processing.features import InputNormalization

from semisupcon_recipe.encoders import SpeechBrainLobeEncoder
from semisupcon_recipe.features import FeatureCache
from semisupcon_recipe.manifest import write_manifest
from test_probe import single_torch_thread  # noqa: F401  (autouse: compare within one torch thread count)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
CHUNK_LEN = 8000
TRACKS = 5


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Five 1.5-second noise tracks: three chunks each, cut into batches that mix tracks."""
    folder = tmp_path_factory.mktemp("tracks")
    rng = np.random.default_rng(0)
    rows = []
    for index in range(TRACKS):
        wav = folder / f"t{index}.wav"
        soundfile.write(wav, 0.1 * rng.standard_normal(int(1.5 * SAMPLE_RATE)).astype("float32"), SAMPLE_RATE)
        rows.append({"ID": f"t{index}", "duration": 1.5, "wav": str(wav)})
    write_manifest(folder / "tracks.csv", rows)
    return folder / "tracks.csv"


def xvector_encoder() -> SpeechBrainLobeEncoder:
    """The demo's encoder family at a tiny size: its x-vector pooling adds random noise even in eval mode."""
    torch.manual_seed(0)
    return SpeechBrainLobeEncoder(
        features=Fbank(n_mels=20, sample_rate=SAMPLE_RATE),
        normalize=InputNormalization(norm_type="sentence"),
        lobe=Xvector(in_channels=20, tdnn_channels=[8, 8, 8, 8, 16], lin_neurons=12),
        sample_rate=SAMPLE_RATE,
        embedding_dim=12,
    )


def extract(encoder, manifest: Path, cache: Path, global_seed: int, batch_size: int = 4) -> torch.Tensor:
    torch.manual_seed(global_seed)  # what the process happened to draw before the extraction
    return FeatureCache(encoder, manifest, cache, chunk_len=CHUNK_LEN, max_chunks=8).embeddings(batch_size=batch_size).chunks


def test_the_x_vector_encoder_draws_random_noise_in_eval_mode_so_the_check_below_has_teeth():
    encoder = xvector_encoder().eval()
    waveforms = torch.randn(2, CHUNK_LEN)  # (B, T)
    with torch.inference_mode():
        assert not torch.equal(encoder(waveforms), encoder(waveforms))


def test_features_are_bit_identical_whatever_the_process_drew_before_the_extraction(manifest, tmp_path):
    encoder = xvector_encoder()
    first = extract(encoder, manifest, tmp_path / "first", global_seed=1)
    second = extract(encoder, manifest, tmp_path / "second", global_seed=2)
    assert first.shape == (3 * TRACKS, 12)
    assert torch.equal(first, second)


def test_extraction_leaves_the_callers_random_stream_where_it_was(manifest, tmp_path):
    extract(xvector_encoder(), manifest, tmp_path / "cache", global_seed=3)
    after_extraction = torch.randn(4)
    torch.manual_seed(3)
    assert torch.equal(after_extraction, torch.randn(4))


HANDCRAFTED_AFTER_FIX_THREADS = """
import hashlib
import numpy as np, torch
from semisupcon_recipe.demo.baselines import HandcraftedFeatures
from semisupcon_recipe.demo.models import fix_threads
fix_threads(2)
clips = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 24000)).astype("float32"))  # (B, T)
print(hashlib.sha256(HandcraftedFeatures(16000)(clips).numpy().tobytes()).hexdigest())
"""


def test_handcrafted_features_after_fix_threads_do_not_depend_on_the_thread_variables_of_the_environment():
    """numpy's OpenBLAS reads its thread count from the environment; 1 and 2 threads differ in the last bits."""
    runs = []
    for omp_threads in ("1", "2"):
        environment = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        environment["OMP_NUM_THREADS"] = omp_threads
        runs.append(subprocess.Popen([sys.executable, "-c", HANDCRAFTED_AFTER_FIX_THREADS], cwd=REPO, env=environment,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [error for _, error in outputs]
    digests = [output.strip().splitlines()[-1] for output, _ in outputs]
    assert digests[0] == digests[1]


def test_interop_embeddings_are_identical_whatever_the_process_drew_before_and_training_keeps_its_randomness():
    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

    windows = SlidingWindowEncoder(xvector_encoder().eval(), window=CHUNK_LEN, hop=CHUNK_LEN // 2)
    waveforms = [0.1 * torch.randn(12000, generator=torch.Generator().manual_seed(index)) for index in range(2)]
    embeddings = []
    for state in (1, 2):
        torch.manual_seed(state)
        with torch.no_grad():
            embeddings.append(windows.frames(waveforms)[0])
    assert torch.equal(embeddings[0], embeddings[1])
    windows.encoder.train()
    torch.manual_seed(3)
    first = windows.frames(waveforms)[0].detach()
    assert not torch.equal(first, windows.frames(waveforms)[0].detach())  # train mode: the noise is drawn anew
