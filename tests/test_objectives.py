"""SemiSupCon objective: agreement with a plain loop reference and with SimCLR / SupCon."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.objectives import SemiSupConLoss, target_matrix

REPO = Path(__file__).resolve().parents[1]
NUM_TAGS = 6
NUM_CLASSES = 3


def gaussian_kernel(labels_a, labels_b):
    return torch.exp(-torch.cdist(labels_a.double(), labels_b.double()) ** 2)


# name -> (constructor keyword arguments, plain python similarity of two label rows)
SUPERVISIONS = {
    "multiclass": ({"supervision": "multiclass"}, lambda a, b: float(int(a) == int(b))),
    "multilabel_t1": (
        {"supervision": "multilabel", "threshold": 1},
        lambda a, b: float(sum(x * y for x, y in zip(a.tolist(), b.tolist())) >= 1),
    ),
    "multilabel_t2": (
        {"supervision": "multilabel", "threshold": 2},
        lambda a, b: float(sum(x * y for x, y in zip(a.tolist(), b.tolist())) >= 2),
    ),
    "multilabel_dice": ({"supervision": "multilabel", "multilabel_similarity": "dice"}, None),
    "regression": (
        {"supervision": "regression", "radius": 0.6},
        lambda a, b: float(math.dist(a.tolist(), b.tolist()) <= 0.6),
    ),
    "callable": (
        {"supervision": "callable", "similarity": gaussian_kernel},
        lambda a, b: math.exp(-sum((x - y) ** 2 for x, y in zip(a.tolist(), b.tolist()))),
    ),
}


def dice(a, b):
    tags_a = {i for i, x in enumerate(a.tolist()) if x == 1}
    tags_b = {i for i, x in enumerate(b.tolist()) if x == 1}
    if not tags_a and not tags_b:
        return 0.0
    return 2 * len(tags_a & tags_b) / (len(tags_a) + len(tags_b))


SUPERVISIONS["multilabel_dice"] = (SUPERVISIONS["multilabel_dice"][0], dice)


def make_batch(name, num_clips, num_views, labeled_fraction, seed, dtype=torch.float64):
    """Random clips, shuffled rows, garbage (NaN / -1) labels on unlabeled rows."""
    generator = torch.Generator().manual_seed(seed)
    clip_labeled = torch.arange(num_clips) < round(labeled_fraction * num_clips)
    if name == "multiclass":
        clip_labels = torch.randint(0, NUM_CLASSES, (num_clips,), generator=generator)
        clip_labels[~clip_labeled] = -1
    elif name.startswith("multilabel"):
        clip_labels = (torch.rand(num_clips, NUM_TAGS, generator=generator) < 0.35).float()
        clip_labels[~clip_labeled] = float("nan")
    else:
        clip_labels = torch.randn(num_clips, 2, generator=generator) * 0.5
        clip_labels[~clip_labeled] = float("nan")
    clip_ids = torch.arange(num_clips).repeat_interleave(num_views) * 3 + 11
    order = torch.randperm(num_clips * num_views, generator=generator)
    z = torch.randn(num_clips * num_views, 5, generator=generator, dtype=dtype)
    return (
        z.requires_grad_(),
        clip_ids[order],
        clip_labels.repeat_interleave(num_views, 0)[order],
        clip_labeled.repeat_interleave(num_views)[order],
    )


def reference_weights(clip_ids, labels, labeled, pair_similarity):
    size = len(clip_ids)
    weights = [[0.0] * size for _ in range(size)]
    for u in range(size):
        for v in range(size):
            if u == v:
                continue
            if clip_ids[u] == clip_ids[v]:
                weights[u][v] = 1.0
            elif labeled[u] and labeled[v]:
                weights[u][v] = pair_similarity(labels[u], labels[v])
    return weights


def reference_loss(z, clip_ids, labels, labeled, temperature, pair_similarity):
    """The formula of METHOD.md section 3, one anchor and one column at a time."""
    size = len(z)
    weights = reference_weights(clip_ids, labels, labeled, pair_similarity)
    unit = [z[u] / z[u].norm() for u in range(size)]
    scores = [[torch.dot(unit[u], unit[v]) / temperature for v in range(size)] for u in range(size)]
    anchor_losses = []
    for u in range(size):
        total_weight = sum(weights[u])
        if total_weight == 0:
            continue
        normaliser = torch.logsumexp(torch.stack([scores[u][k] for k in range(size) if k != u]), dim=0)
        anchor_losses.append(
            -sum(weights[u][v] * (scores[u][v] - normaliser) for v in range(size) if v != u) / total_weight
        )
    return torch.stack(anchor_losses).mean()


@pytest.mark.parametrize("name", list(SUPERVISIONS))
@pytest.mark.parametrize("num_views", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradient_match_loop_reference(name, num_views, seed):
    kwargs, pair_similarity = SUPERVISIONS[name]
    z, clip_ids, labels, labeled = make_batch(name, num_clips=5, num_views=num_views, labeled_fraction=0.6, seed=seed)
    assert labeled.any() and not labeled.all()
    temperature = 0.3
    loss = SemiSupConLoss(temperature=temperature, **kwargs)(z, clip_ids, labels, labeled)
    expected = reference_loss(z, clip_ids, labels, labeled, temperature, pair_similarity)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    (gradient,) = torch.autograd.grad(loss, z)
    (expected_gradient,) = torch.autograd.grad(expected, z)
    torch.testing.assert_close(gradient, expected_gradient, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(SUPERVISIONS))
def test_label_weight_scales_label_derived_positives_only_in_the_loss_and_its_gradient(name):
    kwargs, pair_similarity = SUPERVISIONS[name]
    z, clip_ids, labels, labeled = make_batch(name, num_clips=5, num_views=2, labeled_fraction=0.6, seed=4)
    loss = SemiSupConLoss(temperature=0.3, label_weight=0.25, **kwargs)(z, clip_ids, labels, labeled)
    expected = reference_loss(z, clip_ids, labels, labeled, 0.3, lambda a, b: 0.25 * pair_similarity(a, b))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    torch.testing.assert_close(torch.autograd.grad(loss, z)[0], torch.autograd.grad(expected, z)[0], atol=1e-5, rtol=0)
    matrix = target_matrix(clip_ids, labels, labeled, label_weight=0.25, **kwargs)
    same_clip = clip_ids[:, None] == clip_ids[None, :]
    assert matrix[same_clip & ~torch.eye(len(clip_ids), dtype=torch.bool)].eq(1).all()  # same clip: still 1
    assert matrix[~same_clip].max() <= 0.25


@pytest.mark.parametrize("name", list(SUPERVISIONS))
def test_label_dims_puts_the_target_matrix_on_the_first_dims_and_same_clip_positives_alone_on_the_rest(name):
    kwargs, pair_similarity = SUPERVISIONS[name]
    z, clip_ids, labels, labeled = make_batch(name, num_clips=5, num_views=2, labeled_fraction=0.6, seed=5)
    loss = SemiSupConLoss(temperature=0.3, label_dims=3, **kwargs)(z, clip_ids, labels, labeled)
    label_part = reference_loss(z[:, :3], clip_ids, labels, labeled, 0.3, pair_similarity)
    same_clip_part = reference_loss(z[:, 3:], clip_ids, labels, labeled, 0.3, lambda a, b: 0.0)
    expected = label_part + same_clip_part  # every anchor has a same-clip positive in both parts
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    torch.testing.assert_close(torch.autograd.grad(loss, z)[0], torch.autograd.grad(expected, z)[0], atol=1e-5, rtol=0)


def test_label_dims_that_leave_no_dimension_to_the_same_clip_positives_are_refused_naming_the_width():
    z, clip_ids, labels, labeled = make_batch("multiclass", num_clips=3, num_views=2, labeled_fraction=1.0, seed=0)
    with pytest.raises(ValueError, match="label_dims 5 leaves no dimension of the 5-wide projection"):
        SemiSupConLoss(supervision="multiclass", label_dims=5)(z, clip_ids, labels, labeled)


@pytest.mark.parametrize("name", list(SUPERVISIONS))
def test_target_matrix_matches_reference_and_has_zero_diagonal(name):
    kwargs, pair_similarity = SUPERVISIONS[name]
    _, clip_ids, labels, labeled = make_batch(name, num_clips=6, num_views=3, labeled_fraction=0.7, seed=3)
    matrix = target_matrix(clip_ids, labels, labeled, **kwargs)
    expected = torch.tensor(reference_weights(clip_ids, labels, labeled, pair_similarity), dtype=matrix.dtype)
    torch.testing.assert_close(matrix, expected, atol=1e-6, rtol=0)
    assert matrix.diagonal().eq(0).all() and matrix.min() >= 0 and matrix.max() <= 1


def test_target_matrix_by_hand_threshold_and_dice():
    tags = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 1], [0, 0, 0]]).float().repeat_interleave(2, 0)
    clip_ids = torch.arange(4).repeat_interleave(2)
    labeled = torch.ones(8, dtype=torch.bool)
    two_shared = target_matrix(clip_ids, tags, labeled, threshold=2)
    assert two_shared[0].tolist() == [0, 1, 1, 1, 0, 0, 0, 0]
    assert two_shared[4].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    weighted = target_matrix(clip_ids, tags, labeled, multilabel_similarity="dice")
    assert weighted[0].tolist() == pytest.approx([0, 1, 0.8, 0.8, 0, 0, 0, 0])
    assert weighted[6].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]  # no tags: only its own clip


def test_target_matrix_follows_row_order():
    _, clip_ids, labels, labeled = make_batch("multilabel_t1", num_clips=5, num_views=2, labeled_fraction=0.8, seed=4)
    order = torch.randperm(len(clip_ids), generator=torch.Generator().manual_seed(0))
    matrix = target_matrix(clip_ids, labels, labeled)
    permuted = target_matrix(clip_ids[order], labels[order], labeled[order])
    assert torch.equal(permuted, matrix[order][:, order])


def nt_xent(first, second, temperature):
    """SimCLR's loss as a (2B)-way classification over the 2B - 1 other views."""
    unit = F.normalize(torch.cat([first, second]), dim=1)  # (2B, D)
    size = len(unit)
    half = size // 2
    scores = (unit @ unit.T / temperature)[~torch.eye(size, dtype=torch.bool)].view(size, size - 1)
    positive = torch.cat([torch.arange(half) + half - 1, torch.arange(half)])  # index after removing self
    return F.cross_entropy(scores, positive)


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_no_labels_two_views_is_simclr_nt_xent(temperature):
    generator = torch.Generator().manual_seed(5)
    first, second = torch.randn(2, 7, 4, generator=generator, dtype=torch.float64)
    z = torch.stack([first, second], 1).reshape(14, 4)  # clip-major
    clip_ids = torch.arange(7).repeat_interleave(2)
    unlabeled = torch.zeros(14, dtype=torch.bool)
    expected = nt_xent(first, second, temperature)
    loss_fn = SemiSupConLoss(temperature=temperature, supervision="multiclass")
    assert loss_fn(z, clip_ids, None, unlabeled).item() == pytest.approx(expected.item(), abs=1e-7)
    assert loss_fn(z, clip_ids, torch.zeros(14, dtype=torch.long), unlabeled).item() == pytest.approx(expected.item(), abs=1e-7)


def supcon_l_out(features, labels, temperature):
    """SupCon L_out (Khosla et al.), views stacked view-major as in their code."""
    num_clips, num_views, _ = features.shape
    contrast = F.normalize(features, dim=-1).transpose(0, 1).reshape(num_clips * num_views, -1)
    view_labels = labels.repeat(num_views)
    others = ~torch.eye(len(contrast), dtype=torch.bool)
    positives = (view_labels[:, None] == view_labels[None, :]) & others
    logits = contrast @ contrast.T / temperature
    log_prob = logits - torch.log((torch.exp(logits) * others).sum(1, keepdim=True))
    return -((positives * log_prob).sum(1) / positives.sum(1)).mean()


@pytest.mark.parametrize("num_views", [2, 3])
def test_all_labeled_multiclass_is_supcon(num_views):
    generator = torch.Generator().manual_seed(6)
    features = torch.randn(8, num_views, 4, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 3, (8,), generator=generator)
    expected = supcon_l_out(features, classes, 0.1)
    loss = SemiSupConLoss(temperature=0.1, supervision="multiclass")(
        features.reshape(8 * num_views, 4),
        torch.arange(8).repeat_interleave(num_views),
        classes.repeat_interleave(num_views),
        torch.ones(8 * num_views, dtype=torch.bool),
    )
    assert loss.item() == pytest.approx(expected.item(), abs=1e-7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("temperature", [0.01, 1.0])
def test_finite_in_half_precision(dtype, temperature):
    generator = torch.Generator().manual_seed(7)
    z = torch.randn(16, 8, generator=generator)
    z[1::2] = -z[::2]  # views of a clip point in opposite directions: logits span +-1/tau
    z[2] = z[4]  # and two negatives coincide
    half = z.to(dtype).requires_grad_()
    clip_ids = torch.arange(8).repeat_interleave(2)
    tags = (torch.rand(16, 5, generator=generator) < 0.5).float()
    labeled = torch.arange(16) < 8
    loss_fn = SemiSupConLoss(temperature=temperature)
    loss = loss_fn(half, clip_ids, tags, labeled)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert half.grad.dtype == dtype and torch.isfinite(half.grad).all()
    full = loss_fn(half.detach().float(), clip_ids, tags, labeled)
    assert loss.item() == pytest.approx(full.item(), rel=1e-6)


def test_autocast_bf16_encoder_gives_finite_float32_loss():
    generator = torch.Generator().manual_seed(8)
    encoder = torch.nn.Linear(6, 4)
    x = torch.randn(12, 6, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = encoder(x)
        loss = SemiSupConLoss(temperature=0.01, supervision="multiclass")(
            z, torch.arange(6).repeat_interleave(2), torch.arange(12) % 2, torch.ones(12, dtype=torch.bool)
        )
    loss.backward()
    assert z.dtype == torch.bfloat16 and loss.dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(encoder.weight.grad).all()


def test_exact_log_sum_exp_not_capped_by_an_epsilon():
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    clip_ids = torch.tensor([0, 0, 1, 1])
    loss_fn = SemiSupConLoss(temperature=0.01, supervision="multiclass")
    loss = loss_fn(z, clip_ids, None, torch.zeros(4, dtype=torch.bool))
    # anchors 0 and 1: positive at cosine -1, two negatives at 0 -> L = 100 + log(2 + e^-100)
    # anchors 2 and 3: positive at cosine 1, negatives at 0 -> L = log(1 + 2 e^-100) ~ 0
    assert loss.item() == pytest.approx((2 * (100 + math.log(2))) / 4, rel=1e-6)
    assert loss.item() > -math.log(1e-6)  # what log(p + 1e-6) would cap each anchor at


def test_statistics_without_labels():
    z, clip_ids, labels, _ = make_batch("multiclass", num_clips=4, num_views=3, labeled_fraction=0.0, seed=9)
    loss_fn = SemiSupConLoss(supervision="multiclass")
    loss = loss_fn(z, clip_ids, labels, torch.zeros(12, dtype=torch.bool), statistics=True)
    stats = loss_fn.last_statistics
    assert stats["positives_self"] == 2.0 and stats["positives_label"] == 0.0 and stats["labeled_fraction"] == 0.0
    assert math.isnan(stats["loss_labeled"])
    assert stats["loss_unlabeled"] == pytest.approx(loss.item()) == pytest.approx(stats["loss"])
    assert all(isinstance(value, float) for value in stats.values())


def test_statistics_mixed_batch():
    clip_ids = torch.arange(4).repeat_interleave(2)
    classes = torch.tensor([0, 0, 0, 0, 1, 1, -1, -1])
    labeled = torch.tensor([True] * 6 + [False] * 2)
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(10))
    loss_fn = SemiSupConLoss(supervision="multiclass")
    loss = loss_fn(z, clip_ids, classes, labeled, statistics=True)
    stats = loss_fn.last_statistics
    assert stats["labeled_fraction"] == 0.75
    assert stats["positives_self"] == 1.0
    assert stats["positives_label"] == pytest.approx((2 + 2 + 2 + 2) / 8)  # clips 0 and 1 share class 0
    combined = (6 * stats["loss_labeled"] + 2 * stats["loss_unlabeled"]) / 8
    assert combined == pytest.approx(loss.item(), rel=1e-6)


def test_hparams_yaml_builds_the_loss_with_every_knob_overridable(tmp_path):
    path = REPO / "hparams" / "objective" / "semisupcon_loss.yaml"
    with open(path) as handle:
        hparams = load_hyperpyyaml(handle, {"temperature": 0.2, "supervision": "regression", "radius": 1.5})
    for knob in ("temperature", "supervision", "multilabel_similarity", "threshold", "radius", "label_weight", "label_dims", "gather_across_devices"):
        assert knob in hparams
    loss = hparams["loss"]
    assert isinstance(loss, SemiSupConLoss) and loss.temperature == 0.2
    assert loss.label_similarity.supervision == "regression" and loss.label_similarity.radius == 1.5
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"objective: !include:{path}\n    threshold: 2\nloss: !ref <objective[loss]>\n")
    with open(recipe) as handle:
        included = load_hyperpyyaml(handle)
    assert included["loss"].label_similarity.threshold == 2 and included["loss"].temperature == 0.1


def good_batch():
    return (
        torch.randn(6, 3),
        torch.tensor([0, 0, 1, 1, 2, 2]),
        torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]),
        torch.tensor([True, True, True, True, False, False]),
    )


def replaced(index, value):
    batch = list(good_batch())
    batch[index] = value
    return batch


NAN_ROW = torch.tensor([[float("nan"), 0.0]] * 2 + [[0.0, 1.0]] * 4)
BAD_BATCHES = {
    "z rows": (replaced(0, torch.randn(5, 3)), "z must be"),
    "z 1-D": (replaced(0, torch.randn(6)), "z must be"),
    "z nan": (replaced(0, torch.randn(6, 3).index_fill(0, torch.tensor([2]), float("nan"))), "NaN or inf"),
    "z inf": (replaced(0, torch.randn(6, 3).index_fill(0, torch.tensor([2]), float("inf"))), "NaN or inf"),
    "clip_ids float": (replaced(1, torch.tensor([0.0, 0, 1, 1, 2, 2])), "clip_ids must be integer"),
    "mask rows": (replaced(3, torch.tensor([True, True, False])), "labeled_mask must be bool of shape"),
    "mask dtype": (replaced(3, torch.tensor([1, 1, 1, 1, 0, 0])), "labeled_mask must be bool"),
    "labels rows": (replaced(2, torch.zeros(5, 2)), "one row per view"),
    "single view": (replaced(1, torch.tensor([0, 0, 1, 1, 2, 3])), r"clip\(s\) \[2, 3\] have fewer than 2 views"),
    "labels nan": (replaced(2, NAN_ROW), r"labeled views \[0, 1\] contain NaN"),
    "labels 1-D": (replaced(2, torch.zeros(6)), r"multi-hot of shape \(V, C\)"),
    "not binary": (replaced(2, torch.full((6, 2), 0.5)), "only 0 and 1"),
    "labels None": (replaced(2, None), "labels is None"),
}


SHAPE_ERRORS = {"z rows", "z 1-D", "clip_ids float", "mask rows", "mask dtype", "labels rows", "labels 1-D"}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batches_raise_clear_errors_at_the_data_boundary_and_bad_shapes_on_every_step(case):
    batch, message = BAD_BATCHES[case]
    with pytest.raises(ValueError, match=message):
        SemiSupConLoss().check_batch(*batch)
    if case in SHAPE_ERRORS:
        with pytest.raises(ValueError, match=message):
            SemiSupConLoss()(*batch)


def test_nan_labels_of_unlabeled_views_are_ignored():
    z, clip_ids, _, labeled = good_batch()
    labels = torch.tensor([[1.0, 0.0]] * 4 + [[float("nan"), 7.0]] * 2)
    assert torch.isfinite(SemiSupConLoss()(z, clip_ids, labels, labeled))


WRONG_KIND = {
    "float for multiclass": ({"supervision": "multiclass"}, torch.tensor([0.0, 0, 1, 1, 2, 2]), "integer class indices"),
    "2-D for multiclass": ({"supervision": "multiclass"}, torch.zeros(6, 2, dtype=torch.long), "integer class indices"),
    "integer for regression": ({"supervision": "regression"}, torch.tensor([0, 0, 1, 1, 2, 2]), "floating point"),
    "inf for regression": (
        {"supervision": "regression"},
        torch.tensor([0.0, 0.0, float("inf"), 1.0, 2.0, 2.0]),
        r"labeled views \[2\] contain NaN or inf",
    ),
    "callable shape": (
        {"supervision": "callable", "similarity": lambda a, b: torch.zeros(len(a), len(b) + 1)},
        torch.zeros(6, 2),
        "similarity returned shape",
    ),
    "callable range": (
        {"supervision": "callable", "similarity": lambda a, b: torch.full((len(a), len(b)), 2.0)},
        torch.zeros(6, 2),
        r"in \[0, 1\]",
    ),
}


@pytest.mark.parametrize("case", list(WRONG_KIND))
def test_labels_of_the_wrong_kind_raise(case):
    kwargs, labels, message = WRONG_KIND[case]
    z, clip_ids, _, labeled = good_batch()
    loss_fn = SemiSupConLoss(**kwargs)
    # A callable similarity's output is checked as the loss computes it; label values at the data boundary.
    check = loss_fn if kwargs["supervision"] == "callable" else loss_fn.check_batch
    with pytest.raises(ValueError, match=message):
        check(z, clip_ids, labels, labeled)
    with pytest.raises(ValueError, match=message):
        target_matrix(clip_ids, labels, labeled, **kwargs)


BAD_SETTINGS = {
    "temperature zero": ({"temperature": 0.0}, "temperature must be > 0"),
    "temperature negative": ({"temperature": -0.1}, "temperature must be > 0"),
    "unknown supervision": ({"supervision": "tags"}, "unknown supervision 'tags'"),
    "unknown multilabel similarity": ({"multilabel_similarity": "jaccard"}, "unknown multilabel_similarity"),
    "threshold zero": ({"threshold": 0}, "threshold must be a positive"),
    "negative radius": ({"radius": -1.0}, "radius must be >= 0"),
    "callable without function": ({"supervision": "callable"}, "needs a `similarity"),
    "function without callable": ({"similarity": gaussian_kernel}, "only used with supervision='callable'"),
    "label weight zero": ({"label_weight": 0.0}, r"label_weight must lie in \(0, 1\]"),
    "label weight above one": ({"label_weight": 1.5}, r"label_weight must lie in \(0, 1\]"),
    "label dims zero": ({"label_dims": 0}, "label_dims must be null or a positive number"),
    "label dims fractional": ({"label_dims": 1.5}, "label_dims must be null or a positive number"),
    "label dims boolean": ({"label_dims": True}, "label_dims must be null or a positive number"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_raise(case):
    kwargs, message = BAD_SETTINGS[case]
    with pytest.raises(ValueError, match=message):
        SemiSupConLoss(**kwargs)


def refuse_synchronisation(*args, **kwargs):
    raise AssertionError("a host-device synchronisation (.item/.tolist/bool/nonzero) ran on a non-logging step")


SYNCHRONISING_METHODS = ("item", "tolist", "__bool__", "__int__", "__float__", "nonzero")


@pytest.mark.parametrize("name", ["multiclass", "multilabel_t1", "multilabel_dice", "regression"])
def test_a_non_logging_training_step_never_reads_a_value_back_from_the_device(name, monkeypatch):
    kwargs, _ = SUPERVISIONS[name]
    z, clip_ids, labels, labeled = make_batch(name.split("_")[0], num_clips=6, num_views=2, labeled_fraction=0.5, seed=4)
    loss_fn = SemiSupConLoss(**kwargs)
    expected = loss_fn(z, clip_ids, labels, labeled, statistics=True).detach()
    assert loss_fn.last_statistics["loss"] == pytest.approx(expected.item())
    z.grad = None
    with monkeypatch.context() as patch:
        for method in SYNCHRONISING_METHODS:
            patch.setattr(torch.Tensor, method, refuse_synchronisation)
        loss = loss_fn(z, clip_ids, labels, labeled)
        loss.backward()
        assert loss_fn.last_statistics is None
    assert torch.equal(loss.detach(), expected) and torch.isfinite(z.grad).all()


def test_features_of_clips_with_per_clip_labels_give_the_loss_of_the_per_view_call():
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(5, 3, 4, generator=generator)  # (B, N, D)
    tags = (torch.rand(5, 6, generator=generator) < 0.4).float()  # (B, C)
    known = torch.tensor([True, False, True, True, False])
    loss_fn = SemiSupConLoss(supervision="multilabel")
    clip_ids = torch.arange(5).repeat_interleave(3)
    per_view = loss_fn(features.reshape(15, 4), clip_ids, tags.repeat_interleave(3, 0), known.repeat_interleave(3))
    assert loss_fn(features, labels=tags, labeled_mask=known) == pytest.approx(per_view.item())
    every_clip_labeled = loss_fn(features.reshape(15, 4), clip_ids, tags.repeat_interleave(3, 0), torch.ones(15, dtype=torch.bool))
    assert loss_fn(features, labels=tags) == pytest.approx(every_clip_labeled.item())
    unlabeled = loss_fn(features.reshape(15, 4), clip_ids, None, torch.zeros(15, dtype=torch.bool))
    assert loss_fn(features) == pytest.approx(unlabeled.item())
    with pytest.raises(ValueError, match=r"without clip_ids, z must be \(B, N, D\)"):
        loss_fn(features.reshape(15, 4))
