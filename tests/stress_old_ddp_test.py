"""Cross-device negatives: 2 gloo ranks under DDP reproduce the single-process full batch."""

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from semisupcon_recipe.objectives import SemiSupConLoss

WORLD_SIZE = 2
# Only a guard against a real hang: a loaded 2-core machine may take minutes to start two torch
# processes, so neither limit is a performance expectation (alone the test takes ~15 s).
HANG_TIMEOUT_S = 600
INPUT_DIM, PROJECTION_DIM = 6, 4
MULTI_HOT = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]]
# name -> (supervision, labels of the 7 global clips); rank 0 holds clips 0-3, rank 1 clips 4-6
CASES = {
    "multiclass": ("multiclass", torch.tensor([0, 1, 0, 2, 1, 0, -1])),
    "multilabel": ("multilabel", torch.tensor(MULTI_HOT, dtype=torch.float32)),
    "multilabel_bool": ("multilabel", torch.tensor(MULTI_HOT, dtype=torch.bool)),
}
LABELED_CLIPS = torch.tensor([True, True, False, True, True, True, False])
VIEWS_PER_CLIP = 2
RANK_CLIPS = ([0, 1, 2, 3], [4, 5, 6])  # uneven: 8 and 6 views, different valid anchor counts


def global_batch(case):
    """Inputs of the whole batch, clip-major; clip ids are local per rank (both start at 0)."""
    generator = torch.Generator().manual_seed(0)
    num_clips = len(LABELED_CLIPS)
    x = torch.randn(num_clips * VIEWS_PER_CLIP, INPUT_DIM, generator=generator)
    labels = CASES[case][1].repeat_interleave(VIEWS_PER_CLIP, 0)
    labeled = LABELED_CLIPS.repeat_interleave(VIEWS_PER_CLIP)
    return x, labels, labeled


def rank_rows(rank):
    clips = torch.tensor(RANK_CLIPS[rank])
    return (clips[:, None] * VIEWS_PER_CLIP + torch.arange(VIEWS_PER_CLIP)).flatten()


def make_encoder():
    torch.manual_seed(1)
    return torch.nn.Linear(INPUT_DIM, PROJECTION_DIM)


def worker(rank, out_folder):
    # A file rendezvous: no TCP port to choose, so nothing another process can take in between.
    dist.init_process_group(
        "gloo",
        init_method=f"file://{os.path.join(out_folder, 'rendezvous')}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=HANG_TIMEOUT_S),
    )
    try:
        encoder = torch.nn.parallel.DistributedDataParallel(make_encoder())
        results = {}
        for case in CASES:
            x, labels, labeled = global_batch(case)
            rows = rank_rows(rank)
            local_clip_ids = torch.arange(len(RANK_CLIPS[rank])).repeat_interleave(VIEWS_PER_CLIP) + 100
            loss_fn = SemiSupConLoss(temperature=0.2, supervision=CASES[case][0], gather_across_devices=True)
            encoder.zero_grad()
            loss = loss_fn(encoder(x[rows]), local_clip_ids, labels[rows], labeled[rows])
            loss.backward()
            global_loss = loss.detach().clone()
            dist.all_reduce(global_loss)
            local_only = SemiSupConLoss(temperature=0.2, supervision=CASES[case][0])(
                encoder.module(x[rows]), local_clip_ids, labels[rows], labeled[rows]
            )
            results[case] = {
                "local_only_loss": local_only.detach(),
                "loss": global_loss / WORLD_SIZE,
                "weight_grad": encoder.module.weight.grad.clone(),
                "bias_grad": encoder.module.bias.grad.clone(),
            }
        torch.save(results, os.path.join(out_folder, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def single_process(case):
    x, labels, labeled = global_batch(case)
    encoder = make_encoder()
    clip_ids = torch.arange(len(LABELED_CLIPS)).repeat_interleave(VIEWS_PER_CLIP)
    loss = SemiSupConLoss(temperature=0.2, supervision=CASES[case][0], gather_across_devices=True)(
        encoder(x), clip_ids, labels, labeled
    )
    loss.backward()
    return {"loss": loss.detach(), "weight_grad": encoder.weight.grad, "bias_grad": encoder.bias.grad}


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_TIMEOUT_S)
def test_two_gloo_ranks_under_ddp_match_single_process_full_batch(tmp_path):
    # join=True waits however long a loaded machine needs and re-raises a worker's exception;
    # pytest-timeout ends a true hang.
    mp.start_processes(worker, args=(str(tmp_path),), nprocs=WORLD_SIZE, join=True, start_method="spawn")
    for rank in range(WORLD_SIZE):
        results = torch.load(tmp_path / f"rank{rank}.pt")
        for case in CASES:
            expected = single_process(case)
            assert (results[case]["local_only_loss"] - expected["loss"]).abs() > 1e-3  # negatives do cross ranks
            for key, value in expected.items():
                torch.testing.assert_close(results[case][key], value, atol=1e-5, rtol=0, msg=f"{case} {key} rank {rank}")
