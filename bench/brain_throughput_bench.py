"""Training-step throughput of SemiSupConBrain vs a bare PyTorch loop, and data-pipeline speed.

Both training loops run the same encoder + projector + SemiSupCon loss + Adam on the
same pre-made batches (no augmentation, no disk I/O), in one process, one after the
other, after a warm-up each. The ratio Brain / bare is what SpeechBrain's machinery
costs; the target is >= 0.85. Then the data pipeline (manifest -> views -> collate, no
model) is timed on generated wav files with the data loader in the main process
(one core), which is the per-core clips/s figure.

    python bench/brain_throughput_bench.py                       # CPU, tiny SampleCNN
    python bench/brain_throughput_bench.py --paper --device cuda # paper SampleCNN on a GPU
    python bench/brain_throughput_bench.py --paper --device cuda --precision bf16
    python bench/brain_throughput_bench.py --compile             # torch.compile of the encoder (the yaml's `compile`)
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from speechbrain.utils.epoch_loop import EpochCounter

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.data import EpochSeed, ViewBatch, collate_views, pretraining_datasets
from semisupcon_recipe.encoders import ProjectionHead, SampleCNN
from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.objectives import SemiSupConLoss
from semisupcon_recipe.sampling import MixedLabelBatchSampler
from semisupcon_recipe.views import ViewReader


class _SilentLogger:
    def log_stats(self, *args, **kwargs) -> None:
        pass


def make_batches(count: int, batch_size: int, num_views: int, length: int, num_tags: int) -> list[ViewBatch]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for index in range(count):
        labeled = torch.arange(batch_size) < batch_size // 2  # (B,)
        labels = (torch.rand(batch_size, num_tags, generator=generator) < 0.1).float() * labeled[:, None]  # (B, C)
        views = torch.randn(batch_size, num_views, length, generator=generator) * 0.1  # (B, N, L)
        batches.append(ViewBatch([f"b{index}c{i}" for i in range(batch_size)], views, labels, labeled))
    return batches


def build_model(paper: bool, device: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    if paper:
        encoder, projector = SampleCNN(), ProjectionHead(512, 512, 128)
    else:
        encoder, projector = SampleCNN(16000, (32, 32, 64, 64, 64, 64, 128, 128)), ProjectionHead(128, 128, 64)
    torch.manual_seed(0)
    return encoder.to(device), projector.to(device)


def autocast(device: str, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bare_loop(batches: list[ViewBatch], paper: bool, device: str, precision: str, warmup: int, compile: bool) -> float:
    encoder, projector = build_model(paper, device)
    forward_encoder = torch.compile(encoder) if compile else encoder
    loss_fn = SemiSupConLoss(temperature=0.1, supervision="multilabel")
    optimizer = torch.optim.Adam([*encoder.parameters(), *projector.parameters()], lr=3e-4)
    start = 0.0
    for index, batch in enumerate(batches):
        if index == warmup:
            synchronize(device)
            start = time.perf_counter()
        batch = batch.to(device)
        num_clips, num_views, length = batch.views.shape
        with autocast(device, precision):
            z = projector(forward_encoder(batch.views.reshape(-1, length)))  # (V, P)
        clip_ids = torch.arange(num_clips, device=device).repeat_interleave(num_views)  # (V,)
        loss = loss_fn(z.float(), clip_ids, batch.labels.repeat_interleave(num_views, 0), batch.labeled.repeat_interleave(num_views))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    return (len(batches) - warmup) * batches[0].views.shape[0] / (time.perf_counter() - start)


class _TimedBrain(SemiSupConBrain):
    """Starts the clock after the warm-up batches."""

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        super().on_fit_batch_end(batch, outputs, loss, should_step)
        if self.step == self.hparams.warmup:
            synchronize(str(self.device))
            self.clock = time.perf_counter()


def brain_loop(batches: list[ViewBatch], paper: bool, device: str, precision: str, warmup: int, compile: bool) -> float:
    encoder, projector = build_model(paper, device)
    hparams = {
        "loss": SemiSupConLoss(temperature=0.1, supervision="multilabel"),
        "train_logger": _SilentLogger(),
        "train_epoch_seed": EpochSeed(0),
        "log_interval": 10**9,
        "checkpoints_to_keep": 1,
        "warmup": warmup,
    }
    brain = _TimedBrain(
        modules={"encoder": encoder, "projector": projector},
        opt_class=lambda params: torch.optim.Adam(params, lr=3e-4),
        hparams=hparams,
        run_opts={
            "device": device, "precision": precision, "tqdm_colored_bar": False,
            "compile": compile, "compile_module_keys": ["encoder"] if compile else None,
        },
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, collate_fn=lambda batch: batch)
    brain.fit(EpochCounter(1), loader, progressbar=False)
    synchronize(device)
    return (len(batches) - warmup) * batches[0].views.shape[0] / (time.perf_counter() - brain.clock)


def pipeline_throughput(num_files: int, seconds: float, clip_len: int, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        rows = []
        for index in range(num_files):
            path = Path(folder) / f"f{index}.wav"
            soundfile.write(path, (rng.normal(size=int(22050 * seconds)) * 0.1).astype("float32"), 22050)
            rows.append({"ID": f"f{index}", "duration": seconds, "wav": str(path), "labels": "a" if index % 2 else ""})
        write_manifest(Path(folder) / "all.csv", rows)
        data = pretraining_datasets(
            str(Path(folder) / "all.csv"), None, "multiclass", ViewReader(22050, clip_len, 2), EpochSeed(0), folder,
        )
        sampler = MixedLabelBatchSampler(data.labeled_indices, data.unlabeled_indices, batch_size, 0.5, seed=0)
        loader = torch.utils.data.DataLoader(data.dataset, batch_sampler=sampler, collate_fn=collate_views)
        start = time.perf_counter()
        clips = sum(batch.views.shape[0] for batch in loader)
        return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--paper", action="store_true", help="paper SampleCNN, 59049-sample views, batch 96")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (they include compilation)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder in both loops")
    parser.add_argument("--skip_pipeline", action="store_true", help="time the training loops only")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    batch_size, length = (96, 59049) if args.paper else (32, 16000)
    steps = args.steps or (30 if args.paper else 15)
    batches = make_batches(steps + args.warmup, batch_size, 2, length, num_tags=50)

    bare = bare_loop(batches, args.paper, args.device, args.precision, args.warmup, args.compile)
    brain = brain_loop(batches, args.paper, args.device, args.precision, args.warmup, args.compile)
    print(f"device={args.device} precision={args.precision} compile={args.compile} "
          f"model={'paper SampleCNN' if args.paper else 'small SampleCNN'} "
          f"batch={batch_size} clips x 2 views x {length} samples, {steps} timed steps")
    print(f"{'loop':<22}{'clips/s':>10}")
    print(f"{'bare PyTorch':<22}{bare:>10.1f}")
    print(f"{'SemiSupConBrain':<22}{brain:>10.1f}")
    print(f"ratio Brain / bare: {brain / bare:.3f} (target >= 0.85)")
    if args.device == "cpu" and not args.skip_pipeline:
        torch.set_num_threads(1)
        rate = pipeline_throughput(num_files=192, seconds=8.0, clip_len=59049, batch_size=32)
        print(f"data pipeline (read + resample-free crop + collate, paper view size, 1 core): {rate:.1f} clips/s")


if __name__ == "__main__":
    main()
