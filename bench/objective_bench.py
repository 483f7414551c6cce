"""Speed and peak memory of the SemiSupCon loss against the reference code's computation.

Measures one forward + backward (target matrix and loss) of
:class:`semisupcon_recipe.objectives.SemiSupConLoss` at several batch sizes V with C
multi-hot tags, side by side with a re-implementation of the public reference code's
computation: shared tags counted by broadcasting the multi-hot labels pairwise into a
V x V x C tensor, then the loss with ``log(p + 1e-6)``.

Time: median wall-clock seconds of the timed runs (and, on CPU, the ratio of CPU
seconds, which varies less on a shared machine). Memory: on CUDA, ``torch.cuda.max_memory_allocated`` above the memory held by the
inputs. On CPU each measurement runs in a fresh process and reports the resident-set
high-water mark (``ru_maxrss``) above the resident set once the inputs exist; it
includes allocator slack. ``tracemalloc`` is not used: it does not see torch's
allocations.

Usage::

    python bench/objective_bench.py                       # V = 1024, 4096, 8192 on CPU
    python bench/objective_bench.py --sizes 256 512 1024  # quick
    python bench/objective_bench.py --device cuda
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from semisupcon_recipe.objectives import SemiSupConLoss

GB = 1024**3
FLOAT_BYTES = 4


def make_inputs(num_views: int, args: argparse.Namespace, device: str) -> dict:
    """Clip-major batch: labeled clips first (as the reference code's batches), then unlabeled."""
    generator = torch.Generator().manual_seed(0)
    num_clips = num_views // args.views_per_clip
    num_labeled = int(num_clips * args.labeled_fraction)
    tags = (torch.rand(num_clips, args.num_tags, generator=generator) < args.tags_per_clip / args.num_tags).float()
    tags[num_labeled:] = 0
    return {
        "z": torch.randn(num_views, args.dim, generator=generator).to(device).requires_grad_(),
        "clip_ids": torch.arange(num_clips).repeat_interleave(args.views_per_clip).to(device),
        "labels": tags.repeat_interleave(args.views_per_clip, 0).to(device),  # (V, C)
        "labeled_mask": (torch.arange(num_clips) < num_labeled).repeat_interleave(args.views_per_clip).to(device),
    }


def ours(inputs: dict, args: argparse.Namespace) -> torch.Tensor:
    loss_fn = SemiSupConLoss(temperature=args.temperature, supervision="multilabel", threshold=args.threshold)
    return loss_fn(inputs["z"], inputs["clip_ids"], inputs["labels"], inputs["labeled_mask"])


def reference(inputs: dict, args: argparse.Namespace) -> torch.Tensor:
    """The reference code's computation: pairwise V x V x C label product, epsilon in the log."""
    z, labels, views = inputs["z"], inputs["labels"], args.views_per_clip
    size = len(z)
    indices = torch.arange(size, device=z.device)
    rows, cols = torch.meshgrid(indices, indices, indexing="ij")  # (V, V) each
    same_clip = (rows // views == cols // views).float()  # (V, V)
    shared = (labels.unsqueeze(0) * labels.unsqueeze(1)).sum(-1)  # (V, V, C) -> (V, V)
    positive_mask = torch.clamp(same_clip + (shared >= args.threshold).float(), max=1)  # (V, V)
    positive_mask = positive_mask * (1 - torch.eye(size, device=z.device))  # (V, V)
    z = F.normalize(z, dim=-1)  # (V, D)
    similarity = torch.exp(z @ z.T / args.temperature)  # (V, V)
    denominator = (similarity * (1 - torch.eye(size, device=z.device))).sum(1, keepdim=True)  # (V, 1)
    log_prob = -torch.log(similarity / denominator + 1e-6)  # (V, V)
    return ((log_prob * positive_mask).sum(1) / positive_mask.sum(1)).mean()


METHODS = {"ours": ours, "reference": reference}


def estimated_bytes(method: str, num_views: int, args: argparse.Namespace) -> int:
    """Rough peak: number of live V x V float matrices (+ the V x V x C product)."""
    square = num_views * num_views * FLOAT_BYTES
    if method == "reference":
        return num_views * num_views * args.num_tags * FLOAT_BYTES + 12 * square
    return 12 * square


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def available_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def measure(method: str, num_views: int, args: argparse.Namespace) -> dict:
    """Median wall and CPU seconds of forward + backward, peak extra bytes of the first run, loss."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    inputs = make_inputs(num_views, args, args.device)
    cuda = args.device == "cuda"

    def step() -> float:
        inputs["z"].grad = None
        loss = METHODS[method](inputs, args)
        loss.backward()
        return loss.item()

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        baseline = resident_bytes()
    value = step()
    if cuda:
        peak = torch.cuda.max_memory_allocated() - baseline
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    wall, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        if cuda:
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"seconds": statistics.median(wall), "cpu_seconds": statistics.median(cpu), "peak": peak, "loss": value}


def run_isolated(method: str, num_views: int, args: argparse.Namespace) -> dict | str:
    """Measure in a fresh process on CPU (clean RSS high-water mark), in this one on CUDA."""
    needed = estimated_bytes(method, num_views, args)
    if needed > args.memory_budget_gb * GB:
        return f"skipped: needs {needed / GB:.1f} GB"
    try:
        if args.device == "cuda":
            return measure(method, num_views, args)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(measure, method, num_views, args).result()
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return f"skipped: out of memory (estimated {needed / GB:.1f} GB)"
    except concurrent.futures.process.BrokenProcessPool:
        return f"failed: process killed (out of memory? estimated {needed / GB:.1f} GB)"


def cell(result: dict | str, key: str, scale: float = 1.0, digits: int = 3) -> str:
    return f"{result[key] / scale:.{digits}f}" if isinstance(result, dict) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192], help="numbers of views V")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--num-tags", type=int, default=188, help="C, width of the multi-hot labels")
    parser.add_argument("--tags-per-clip", type=float, default=3.0, help="mean active tags of a labeled clip")
    parser.add_argument("--labeled-fraction", type=float, default=0.5, help="b_s, labeled clips per batch")
    parser.add_argument("--views-per-clip", type=int, default=2)
    parser.add_argument("--dim", type=int, default=128, help="projection width")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--threshold", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one untimed run")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--memory-budget-gb", type=float, default=None,
                        help="skip a run whose estimated peak exceeds this (default: half the free memory)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no GPU")
    if args.memory_budget_gb is None:
        args.memory_budget_gb = available_bytes(args.device) / GB / (1 if args.device == "cuda" else 2)
    memory_kind = "CUDA max_memory_allocated" if args.device == "cuda" else "RSS high-water mark, fresh process"
    print(f"device {args.device}, C = {args.num_tags}, N = {args.views_per_clip}, D = {args.dim}, "
          f"budget {args.memory_budget_gb:.1f} GB, peak memory = {memory_kind}, median of {args.repeats}")
    header = (f"{'V':>6} | {'ours s':>8} | {'ours MB':>8} | {'ref s':>8} | {'ref MB':>9} | {'ref/ours':>8} | "
              f"{'CPU-time ref/ours':>17} | {'|loss diff|':>11}")
    print(header)
    print("-" * len(header))
    for num_views in args.sizes:
        mine = run_isolated("ours", num_views, args)
        theirs = run_isolated("reference", num_views, args)
        both = isinstance(mine, dict) and isinstance(theirs, dict)
        ratio = f"{theirs['seconds'] / mine['seconds']:.1f}x" if both else "-"
        cpu_ratio = f"{theirs['cpu_seconds'] / mine['cpu_seconds']:.1f}x" if both and args.device == "cpu" else "-"
        difference = f"{abs(theirs['loss'] - mine['loss']):.1e}" if both else "-"
        print(f"{num_views:>6} | {cell(mine, 'seconds'):>8} | {cell(mine, 'peak', 2**20, 0):>8} | "
              f"{cell(theirs, 'seconds'):>8} | {cell(theirs, 'peak', 2**20, 0):>9} | {ratio:>8} | {cpu_ratio:>17} | "
              f"{difference:>11}")
        for name, result in (("ours", mine), ("reference", theirs)):
            if isinstance(result, str):
                print(f"       {name} at V = {num_views}: {result}")


if __name__ == "__main__":
    main()
