"""Throughput of the augmentation chain: one view at a time (data-loader workers) vs batched.

Usage::

    python bench/augment_bench.py                       # CPU, B=32, T=59049 at 22,050 Hz
    python bench/augment_bench.py --device cuda --threads 16

Prints clips per second for a loop of ``(1, T)`` calls (what each data-loader worker
does) and for one ``(B, T)`` call, and their ratio; also the time each transform takes
alone on the batch. The chain runs at severity 2 with ``p_chain = 1`` so every view is
augmented (the paper's ``p_chain = 0.8`` would make both modes about 20 % faster).

Measured (November 2026, one run each, median of 3-5 repeats):

==========================================  =============  ===========  =======
machine                                     per example    batched      ratio
==========================================  =============  ===========  =======
H100, B=32                                  204 clips/s    2,672        13.1x
H100, B=192                                 185 clips/s    11,194       60.6x
H100 host CPU (16 cores idle), 1 thread     80 clips/s     57           0.71x
H100 host CPU, 2 threads                    106 clips/s    106          1.00x
shared 2-core dev CPU (load 4-7), 1 thread  21 clips/s     40           1.95x
shared 2-core dev CPU (load 4-7), 2 threads 3 clips/s      15           5.2x
==========================================  =============  ===========  =======

Pitch shift (phase vocoder) is 60-80 % of the CPU time. Default: augment batched on
the training device; on CPU-only runs either place works.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from semisupcon_recipe.augment import AugmentationChain

TRANSFORMS = ("gain", "polarity", "noise", "filter", "pitch", "delay")


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``repeats`` runs after one warm-up run, in seconds."""
    run()
    synchronise(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronise(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=59049)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per mode (median reported)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    views = 0.1 * torch.randn(args.batch, args.length, device=device)  # (B, T)
    chain = AugmentationChain(args.sample_rate, p_chain=1.0)

    per_example = timed(lambda: [chain(views[row : row + 1]) for row in range(args.batch)], device, args.repeats)
    batched = timed(lambda: chain(views), device, args.repeats)

    print(f"device={device} threads={torch.get_num_threads()} B={args.batch} T={args.length} rate={args.sample_rate}")
    print(f"{'mode':<24}{'seconds':>10}{'clips/s':>12}")
    print(f"{'per example (1, T) x B':<24}{per_example:>10.3f}{args.batch / per_example:>12.1f}")
    print(f"{'batched (B, T)':<24}{batched:>10.3f}{args.batch / batched:>12.1f}")
    print(f"batched / per-example throughput: {per_example / batched:.2f}x")

    print(f"\n{'transform alone, batched':<24}{'seconds':>10}{'clips/s':>12}")
    for name in TRANSFORMS:
        probabilities = {f"{other}_p": float(other == name) for other in TRANSFORMS}
        alone = AugmentationChain(args.sample_rate, p_chain=1.0, **probabilities)
        seconds = timed(lambda: alone(views), device, args.repeats)
        print(f"{name:<24}{seconds:>10.3f}{args.batch / seconds:>12.1f}")


if __name__ == "__main__":
    main()
