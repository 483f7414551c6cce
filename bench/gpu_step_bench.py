"""Training step of the paper SampleCNN on one accelerator: precision, compile, batch size.

One run measures, on pre-made random views already on the device (no data loading,
no augmentation), the SemiSupCon training step (SampleCNN + projection head +
SemiSupConLoss, AdamW) in clips/s for several settings, and the fraction of the bf16
peak it reaches (FLOPs of one step counted with ``torch.utils.flop_counter``). It
prints one JSON line per setting, then a table of ratios against the fp32 eager
baseline measured first in the same run. Needs only torch and this repository
(``semisupcon_recipe.encoders`` and ``semisupcon_recipe.objectives`` import torch alone)::

    python bench/gpu_step_bench.py                       # CUDA, paper sizes, about 3 minutes on an H200
    python bench/gpu_step_bench.py --configs fp32-eager bf16-eager
    python bench/gpu_step_bench.py --tiny --device cpu   # seconds (plus compile), checks the script

Conv1d has no channels-last memory format, so that knob does not apply to SampleCNN;
``cudnn.benchmark`` (per-shape algorithm search) does. torch.compile's warm-up
(first steps, including compilation) is reported separately from the timed steps.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a plain clone, no install

from semisupcon_recipe.encoders.projection import ProjectionHead  # noqa: E402
from semisupcon_recipe.encoders.samplecnn import SampleCNN  # noqa: E402
from semisupcon_recipe.objectives import SemiSupConLoss  # noqa: E402

H200_BF16_DENSE_TFLOPS = 989.0


@dataclass(frozen=True)
class Setting:
    """One measured configuration of the training step."""

    name: str
    precision: str  # fp32 | bf16
    compile: bool
    cudnn_benchmark: bool
    batch_scale: int  # per-device batch = batch_size * batch_scale


SETTINGS = [  # eager first: if compilation is slow, --max_seconds skips only compiled settings
    Setting("fp32-eager", "fp32", False, False, 1),
    Setting("fp32-eager-cudnnbench", "fp32", False, True, 1),
    Setting("bf16-eager", "bf16", False, False, 1),
    Setting("bf16-eager-cudnnbench", "bf16", False, True, 1),
    Setting("bf16-eager-cudnnbench-x2batch", "bf16", False, True, 2),
    Setting("bf16-eager-cudnnbench-x4batch", "bf16", False, True, 4),
    Setting("bf16-compile-cudnnbench", "bf16", True, True, 1),
    Setting("fp32-compile-cudnnbench", "fp32", True, True, 1),
]
BASELINE = "fp32-eager"


def build_model(tiny: bool, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Encoder and projector of the paper (or a tiny stand-in), seeded, on ``device``."""
    torch.manual_seed(0)
    if tiny:
        encoder, projector = SampleCNN(16000, (8, 8, 16)), ProjectionHead(16, 16, 8)
    else:
        encoder, projector = SampleCNN(), ProjectionHead(512, 512, 128)
    return encoder.to(device), projector.to(device)


def make_inputs(batch: int, num_views: int, length: int, num_tags: int, device: torch.device) -> dict:
    """Random views ``(B, N, L)`` and half-labeled multi-hot tags ``(B, C)``, on ``device``."""
    generator = torch.Generator().manual_seed(1)
    labeled = torch.arange(batch) < batch // 2  # (B,)
    tags = (torch.rand(batch, num_tags, generator=generator) < 0.1).float() * labeled[:, None]  # (B, C)
    views = torch.randn(batch, num_views, length, generator=generator) * 0.1  # (B, N, L)
    return {"views": views.to(device), "labels": tags.to(device), "labeled": labeled.to(device)}


class TrainingStep:
    """``step()`` = forward, SemiSupCon loss, backward and AdamW update of one batch."""

    def __init__(self, setting: Setting, tiny: bool, device: torch.device, inputs: dict) -> None:
        self.encoder, self.projector = build_model(tiny, device)
        self.model = torch.nn.Sequential(self.encoder, self.projector)
        self.forward = torch.compile(self.model) if setting.compile else self.model
        self.loss = SemiSupConLoss(temperature=0.1, supervision="multilabel")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=3e-4)
        self.dtype = torch.bfloat16 if setting.precision == "bf16" else None
        self.device = device
        self.inputs = inputs

    def step(self) -> torch.Tensor:
        views = self.inputs["views"]
        num_clips, num_views, length = views.shape
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            z = self.forward(views.reshape(num_clips * num_views, length))  # (V, P)
        z = z.float().reshape(num_clips, num_views, -1)  # (B, N, P)
        loss = self.loss(z, labels=self.inputs["labels"], labeled_mask=self.inputs["labeled"])
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(tiny: bool, device: torch.device, inputs: dict, precision: str) -> float:
    """FLOPs of one eager training step (forward + backward), counted by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    runner = TrainingStep(Setting("flops", precision, False, False, 1), tiny, device, inputs)
    with FlopCounterMode(display=False) as counter:
        runner.step()
    return float(counter.get_total_flops())


def measure(setting: Setting, args: argparse.Namespace, device: torch.device, flops_cache: dict) -> dict:
    """Warm up, time ``args.steps`` steps and describe the result as one dict."""
    gc.collect()  # the previous setting's model, optimizer and inputs
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch.backends.cudnn.benchmark = setting.cudnn_benchmark
    torch._dynamo.reset()
    batch = args.batch_size * setting.batch_scale
    inputs = make_inputs(batch, 2, args.length, args.num_tags, device)
    key = (batch, setting.precision)
    if key not in flops_cache:
        flops_cache[key] = count_flops(args.tiny, device, inputs, setting.precision)
    runner = TrainingStep(setting, args.tiny, device, inputs)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warm_start = time.perf_counter()
    for _ in range(args.warmup):
        runner.step()
    synchronize(device)
    warmup_s = time.perf_counter() - warm_start
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = runner.step()
    synchronize(device)
    elapsed = time.perf_counter() - start
    step_s = elapsed / args.steps
    achieved_tflops = flops_cache[key] / step_s / 1e12
    return {
        "config": setting.name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": setting.precision,
        "compile": setting.compile,
        "cudnn_benchmark": setting.cudnn_benchmark,
        "batch_clips": batch,
        "views_per_clip": 2,
        "samples_per_view": args.length,
        "timed_steps": args.steps,
        "clips_per_s": round(batch / step_s, 2),
        "step_ms": round(step_s * 1e3, 3),
        "warmup_s": round(warmup_s, 2),
        "flop_per_step": int(flops_cache[key]),
        "achieved_tflops": float(f"{achieved_tflops:.4g}"),
        "bf16_peak_fraction": float(f"{achieved_tflops / args.peak_tflops:.4g}"),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "final_loss": round(float(loss), 5),
    }


def ratio_table(results: list[dict]) -> str:
    """Markdown table of clips/s and the ratio to the baseline row."""
    baseline = next((row for row in results if row.get("config") == BASELINE and "clips_per_s" in row), None)
    lines = [
        "| config | batch | clips/s | x fp32 eager | TFLOP/s | bf16 peak fraction | warm-up s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results:
        if "clips_per_s" not in row:
            lines.append(f"| {row['config']} | - | {row.get('error', 'skipped')} | - | - | - | - |")
            continue
        ratio = f"{row['clips_per_s'] / baseline['clips_per_s']:.2f}" if baseline else "-"
        lines.append(
            f"| {row['config']} | {row['batch_clips']} | {row['clips_per_s']:.1f} | {ratio} | "
            f"{row['achieved_tflops']:.4g} | {row['bf16_peak_fraction']:.2%} | {row['warmup_s']:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny SampleCNN, 4 clips of 81 samples, 2 timed steps")
    parser.add_argument("--configs", nargs="+", choices=[setting.name for setting in SETTINGS], default=None,
                        help="run only these settings (the fp32 eager baseline is always run first)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per setting (default 20; tiny 2)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per setting (default 3; tiny 1)")
    parser.add_argument("--peak_tflops", type=float, default=H200_BF16_DENSE_TFLOPS,
                        help="dense bf16 peak of the card in TFLOP/s (H200/H100 SXM: 989)")
    parser.add_argument("--max_seconds", type=float, default=180.0,
                        help="skip the remaining settings once the run has taken this long")
    args = parser.parse_args(argv)
    args.batch_size, args.length, args.num_tags = (4, 81, 8) if args.tiny else (96, 59049, 50)
    args.steps = args.steps or (2 if args.tiny else 20)
    args.warmup = args.warmup or (1 if args.tiny else 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    chosen = [s for s in SETTINGS if s.name == BASELINE or args.configs is None or s.name in args.configs]
    started = time.perf_counter()
    flops_cache: dict = {}
    results = []
    for setting in chosen:
        if time.perf_counter() - started > args.max_seconds:
            row = {"config": setting.name, "error": f"skipped: run exceeded --max_seconds {args.max_seconds}"}
        else:
            try:
                row = measure(setting, args, device, flops_cache)
            except (torch.OutOfMemoryError, RuntimeError) as error:  # e.g. out of memory at 4x batch
                row = {"config": setting.name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        results.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{ratio_table(results)}")
    print(f"total {time.perf_counter() - started:.0f} s, torch {torch.__version__}")
    failed = [row for row in results if "clips_per_s" not in row and not row["error"].startswith("skipped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
