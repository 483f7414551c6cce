"""Mixed-label batch sampler and the p_s draw."""

import math

import numpy as np
import pytest

from semisupcon_recipe.sampling import MixedLabelBatchSampler, positive_partners, select_labeled_subset

LABELED = list(range(10))
UNLABELED = list(range(10, 100))


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_every_batch_has_the_same_composition(share):
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=share, seed=0)
    for batch in sampler:
        assert len(batch) == 8
        assert sum(index in LABELED for index in batch) == math.floor(8 * share)


def test_larger_pool_covered_once_per_epoch_and_smaller_pool_cycled():
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=10, labeled_share=0.5, seed=0)
    batches = list(sampler)
    unlabeled_seen = [i for b in batches for i in b if i >= 10]
    labeled_seen = [i for b in batches for i in b if i < 10]
    assert len(batches) == 18  # 90 unlabeled / 5 per batch
    assert sorted(unlabeled_seen) == UNLABELED  # each exactly once
    assert set(labeled_seen) == set(LABELED)  # cycled: 90 draws over 10 items
    counts = [labeled_seen.count(i) for i in LABELED]
    assert max(counts) - min(counts) <= 1  # fresh permutations, no item starved


def test_same_epoch_same_batches_other_epoch_other_batches():
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, seed=3)
    sampler.set_epoch(1)
    first, again = list(sampler), list(sampler)
    sampler.set_epoch(2)
    assert first == again
    assert list(sampler) != first


def test_ranks_split_the_single_process_global_batch():
    single = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, seed=0)
    ranks = [MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=4, labeled_share=0.5, seed=0, num_replicas=2, rank=r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    for global_batch, part0, part1 in zip(single, *ranks):
        assert sorted(part0 + part1) == sorted(global_batch)
        assert sum(i in LABELED for i in part0) == sum(i in LABELED for i in part1) == 2
        assert not set(part0) & set(part1)  # no clip twice in a global batch


def test_no_clip_twice_in_a_batch_across_permutation_boundaries():
    sampler = MixedLabelBatchSampler(list(range(6)), list(range(6, 60)), batch_size=8, labeled_share=0.5, seed=0)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(set(batch)) == len(batch)


def test_fixed_epoch_length():
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, batches_per_epoch=7)
    assert len(list(sampler)) == len(sampler) == 7


def test_empty_pool_that_is_needed_is_an_error():
    with pytest.raises(ValueError, match="labeled pool is empty"):
        MixedLabelBatchSampler([], UNLABELED, batch_size=8, labeled_share=0.5)
    assert len(list(MixedLabelBatchSampler([], UNLABELED, batch_size=8, labeled_share=0.0))) > 0


def test_p_s_drawn_once_recorded_and_reused(tmp_path):
    ids = [f"c{i}" for i in range(1000)]
    record = tmp_path / "labeled_subset.txt"
    kept = select_labeled_subset(ids, 0.05, seed=1, record=record)
    assert len(kept) == 50  # p_s applied once, not squared
    assert record.read_text().split() == kept
    assert select_labeled_subset(ids, 0.05, seed=999, record=record) == kept
    assert select_labeled_subset(ids, 0.05, seed=2) != kept


def test_p_s_bounds():
    with pytest.raises(ValueError, match="p_s"):
        select_labeled_subset(["a"], 1.5, seed=0)
    assert select_labeled_subset(["a", "b"], 0.0, seed=0) == []


@pytest.mark.parametrize("batch_size, share", [(1, 0.5), (3, 0.25), (7, 0.1)])
def test_a_labeled_share_that_rounds_to_no_labeled_clip_is_refused_with_the_fix(batch_size, share):
    with pytest.raises(ValueError, match=rf"floor\({batch_size} \* {share}\) = 0 labeled clips.*batch_size to at least {math.ceil(1 / share)}"):
        MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=batch_size, labeled_share=share, seed=0)


def test_pairs_open_every_batch_with_a_positive_pair_and_leave_at_most_the_last_clip_alone():
    classes = [i % 3 for i in LABELED]  # 10 labeled clips, 3 classes
    partners = positive_partners([[a == b for b in classes] for a in classes])
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, seed=0, labeled_partners=partners)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for batch in sampler:
            labeled = batch[:4]
            assert len(set(batch)) == len(batch) and all(index in LABELED for index in labeled)
            assert classes[labeled[0]] == classes[labeled[1]]
            # An anchor whose class is all in the batch already is followed by the next anchor,
            # which may end the batch without its partner.
            assert sum(any(classes[a] == classes[b] for b in labeled if b != a) for a in labeled) >= 3


def test_pairs_keep_every_labeled_clip_in_use_and_fall_back_without_a_positive():
    classes = [0, 0, 0, 0, 1, 1, 1, 1, 2, 3]  # clips 8 and 9 have no positive
    partners = positive_partners([[a == b for b in classes] for a in classes])
    sampler = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, seed=0, labeled_partners=partners)
    drawn = [index for batch in sampler for index in batch if index in LABELED]
    assert set(drawn) == set(LABELED)  # the anchors cycle through the whole pool
    assert len(drawn) == 4 * len(sampler)


def test_pairs_split_over_ranks_like_the_single_process_global_batch():
    partners = positive_partners([[a % 2 == b % 2 for b in LABELED] for a in LABELED])
    single = MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, seed=0, labeled_partners=partners)
    ranks = [
        MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=4, labeled_share=0.5, seed=0, num_replicas=2, rank=r, labeled_partners=partners)
        for r in (0, 1)
    ]
    for global_batch, part0, part1 in zip(single, *ranks):
        assert sorted(part0 + part1) == sorted(global_batch)
        assert part0[0] % 2 == part0[1] % 2 and part1[0] % 2 == part1[1] % 2  # a pair stays on one rank


def test_partners_of_another_length_than_the_labeled_pool_are_refused():
    with pytest.raises(ValueError, match="labeled_partners has 2 entries for 10 labeled clips"):
        MixedLabelBatchSampler(LABELED, UNLABELED, batch_size=8, labeled_share=0.5, labeled_partners=[[1], [0]])


def test_partners_computed_a_block_of_rows_at_a_time_equal_those_of_the_whole_matrix():
    classes = np.random.default_rng(0).integers(0, 5, size=23)
    whole = positive_partners(classes[:, None] == classes[None, :])
    blocks = [partners for first in range(0, 23, 4) for partners in positive_partners(classes[first : first + 4, None] == classes[None, :], first_row=first)]
    assert blocks == whole and all(index not in partners for index, partners in enumerate(whole))
