"""Dynamic pruning (RS2, InfoBatch) against naive references of their definitions, and in the trainer."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.experiments import RunDirCheckpointer
from datadiet.models import build_model
from datadiet.training import TrainConfig, lr_at, train
from datadiet.training.dynamic import INFOBATCH_MAX_RATIO, RS2, DynamicPruning, InfoBatch

# ---------------------------------------------------------------- RS2


@pytest.mark.parametrize("n,fraction", [(10, 0.3), (17, 0.5), (12, 0.75), (9, 0.0)])
def test_rs2_visits_every_example_once_per_pass(n, fraction):
    rs2 = RS2(n, fraction, seed=3)
    size = n - math.floor(fraction * n + 0.5)
    plans = [rs2.plan(e).indices for e in range(3 * n)]
    assert all(p.numel() == size for p in plans)
    stream = torch.cat(plans).tolist()
    for c in range(len(stream) // n):  # each pass of the cycle is a permutation of the training set
        assert sorted(stream[c * n : (c + 1) * n]) == list(range(n))
    # within a pass, no example comes back before all have been seen: epochs inside one pass are disjoint
    per_pass = n // size
    first = [set(p.tolist()) for p in plans[:per_pass]]
    assert sum(len(s) for s in first) == len(set().union(*first)) == per_pass * size


def test_rs2_plan_is_a_function_of_seed_and_epoch():
    a, b = RS2(50, 0.4, seed=1), RS2(50, 0.4, seed=1)
    assert all(torch.equal(a.plan(e).indices, b.plan(e).indices) for e in (0, 5, 2))
    assert not torch.equal(a.plan(0).indices, RS2(50, 0.4, seed=2).plan(0).indices)
    assert a.plan(0).weights is None


# ---------------------------------------------------------------- InfoBatch


def published_pruned_epochs(epochs, delta=0.875):
    """The epochs InfoBatch's own code prunes (``infobatch/infobatch.py``): its sampler's counter is
    e + 1 at epoch e and it prunes while ``counter <= num_epochs * delta``, in floats as the authors do."""
    return [e for e in range(epochs) if e + 1 <= epochs * delta]


def naive_infobatch_rule(losses, epoch, epochs, n, fraction):
    """InfoBatch's rule from its definition, in plain Python: which examples may be skipped, how many
    are, and the weight of a kept well-learned example; None when the epoch trains on everything
    (epoch 0: no losses yet, like InfoBatch's scores all equal at 3; the published full-data tail)."""
    pruned = published_pruned_epochs(epochs)
    if epoch == 0 or epoch not in pruned:
        return None
    mean = sum(losses) / len(losses)
    low = [i for i, v in enumerate(losses) if v < mean]
    target = fraction * n * epochs / (len(pruned) - 1)  # per pruning epoch (not 0), to save `fraction`
    d = min(math.floor(target + 0.5), math.floor(0.9 * len(low)))  # r <= 0.9
    return set(low), d, (len(low) / (len(low) - d) if low else 1.0)


@pytest.mark.parametrize("epochs,fraction", [(8, 0.3), (8, 0.6), (4, 0.2), (3, 0.1), (10, 0.5), (5, 0.7)])
def test_infobatch_matches_its_definition(epochs, fraction):
    n = 40
    rng = np.random.default_rng(0)
    ib = InfoBatch(n, fraction, epochs, seed=7)
    for e in range(epochs):
        plan = ib.plan(e)
        losses = ib.losses.tolist()
        rule = None if e == 0 else naive_infobatch_rule(losses, e, epochs, n, fraction)
        visited = plan.indices.tolist()
        assert len(set(visited)) == len(visited)
        if rule is None:  # epoch 0 (no losses yet) and the full-data tail: all data, weight 1
            assert sorted(visited) == list(range(n))
            assert plan.weights is None or bool((plan.weights == 1).all())
        else:
            low, d, w = rule
            skipped = set(range(n)) - set(visited)
            assert skipped <= low and len(skipped) == d
            for i, wi in zip(visited, plan.weights.tolist()):
                assert wi == pytest.approx(w if i in low else 1.0)
        ib.observe(plan.indices, torch.from_numpy(rng.exponential(size=len(visited))))


@pytest.mark.parametrize("epochs", [3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 17, 20, 23, 24, 40])
def test_infobatch_trains_the_full_data_in_exactly_the_published_epochs(epochs):
    """plan(e) visits all n examples with no weights exactly in the epochs InfoBatch's published rule
    does not prune, plus epoch 0 (which InfoBatch "prunes" with all scores equal: nothing)."""
    n, rng = 40, np.random.default_rng(epochs)
    ib = InfoBatch(n, 0.3, epochs, seed=1)
    full = []
    for e in range(epochs):
        plan = ib.plan(e)
        if plan.indices.numel() == n and (plan.weights is None or bool((plan.weights == 1).all())):
            full.append(e)
        ib.observe(plan.indices, torch.from_numpy(rng.exponential(size=plan.indices.numel())))
    published = published_pruned_epochs(epochs)
    assert full == [0] + [e for e in range(epochs) if e not in published]
    tail = {4: 1, 8: 1, 10: 2, 16: 2, 17: 3}  # ceil((1 - 0.875) * E), at least one
    if epochs in tail:
        assert full[1:] == list(range(epochs - tail[epochs], epochs))
    assert ib.summary()["pruning_epochs"] == len(published) - 1


def test_infobatch_needs_epochs_to_prune():
    assert published_pruned_epochs(2) == [0]  # at 2 epochs InfoBatch prunes only epoch 0, i.e. nothing
    assert published_pruned_epochs(3) == [0, 1]
    for epochs in (1, 2):
        with pytest.raises(DataDietError, match=f"epochs must be >= 3, got {epochs}"):
            InfoBatch(10, 0.3, epochs, seed=0)
        with pytest.raises(DataDietError, match="epochs must be >= 3"):
            DynamicPruning("infobatch", 0.3).check_epochs(epochs)
    InfoBatch(10, 0.3, 3, seed=0)
    InfoBatch(10, 0.0, 1, seed=0)  # nothing to save: nothing to refuse
    DynamicPruning("rs2", 0.3).check_epochs(1)
    with pytest.raises(DataDietError, match="dynamic pruning method"):
        DynamicPruning("nope", 0.3)
    with pytest.raises(DataDietError, match="fraction"):
        DynamicPruning("rs2", 1.0)


def test_infobatch_r_never_exceeds_the_cap():
    """However much the run asks to save, no epoch skips more than floor(0.9 x) of its x below-mean
    examples, so r <= 0.9 and a kept weight <= 10; the capped epochs are counted."""
    n, epochs = 50, 6  # pruning epochs 1..4
    ib = InfoBatch(n, 0.8, epochs, seed=3)  # asks to skip 0.8 * 50 * 6 / 4 = 60 a pruning epoch: more than n
    assert INFOBATCH_MAX_RATIO == 0.9
    crafted = {  # epoch -> losses: how many are below the mean
        1: [0.0] * 3 + [1.0] * 47,  # 3 below: skip floor(2.7) = 2, weight 3
        2: [0.0] * 10 + [1.0] * 40,  # 10 below: skip 9, weight exactly 10
        3: list(np.linspace(0.0, 1.0, n)),  # 25 below: skip 22
        4: [1.0] * n,  # none below the mean: nothing to skip
    }
    ib.observe(torch.arange(n), torch.ones(n, dtype=torch.float64))
    capped = 0
    for e in range(1, epochs):
        if e in crafted:
            ib.observe(torch.arange(n), torch.tensor(crafted[e], dtype=torch.float64))
        losses = ib.losses.tolist()
        low = [i for i, v in enumerate(losses) if v < sum(losses) / n]
        plan = ib.plan(e)
        skipped = n - plan.indices.numel()
        if e >= 5:  # the full-data tail
            assert skipped == 0 and plan.weights is None
            continue
        assert skipped == math.floor(0.9 * len(low)) <= 0.9 * len(low)
        assert float(plan.weights.max()) <= 1 / (1 - 0.9) + 1e-6
        if skipped:
            assert float(plan.weights.max()) == pytest.approx(len(low) / (len(low) - skipped))
        if e == 2:
            assert float(plan.weights.max()) == pytest.approx(10.0)  # r = 0.9 exactly
        capped += math.floor(0.9 * len(low)) < 60  # fewer skipped than asked: capped (none below: too)
    assert ib.summary() == {"pruning_epochs": 4, "capped_epochs": capped} and capped == 4


def test_infobatch_rescaling_is_unbiased():
    """Over many seeds, a below-mean example is kept with probability 1 / weight: the weighted loss
    sum has the full data's expectation."""
    n, counts = 30, np.zeros(30)
    losses = torch.linspace(0.1, 3.0, n, dtype=torch.float64) ** 2
    weighted = []
    for seed in range(400):
        ib = InfoBatch(n, 0.3, 8, seed=seed)
        ib.losses = losses.clone()
        plan = ib.plan(3)
        counts[plan.indices.numpy()] += 1
        weighted.append(float((losses[plan.indices] * plan.weights.double()).sum()))
    low = (losses < losses.mean()).numpy()
    w = InfoBatch(n, 0.3, 8, seed=0)
    w.losses = losses.clone()
    p = w.plan(3)
    keep_prob = 1 / float(p.weights[torch.from_numpy(low)[p.indices]].max())
    assert counts[~low].min() == 400  # above the mean: always visited
    assert counts[low].mean() / 400 == pytest.approx(keep_prob, abs=0.03)
    assert np.mean(weighted) == pytest.approx(float(losses.sum()), rel=0.02)


# ---------------------------------------------------------------- in the trainer


class Recorder:
    """A batch hook that keeps every step's indices, logits and targets."""

    def __init__(self):
        self.batches = []

    def on_batch(self, step, epoch, indices, logits, targets):
        self.batches.append((step, epoch, indices.clone(), logits.clone(), targets.clone()))

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


CFG = TrainConfig(model="mlp", epochs=4, batch_size=32, lr=0.05, weight_decay=0.0, augment=False)


@pytest.mark.parametrize("method", ["rs2", "infobatch"])
def test_trainer_follows_the_plan_and_weights_like_a_naive_loop(tiny_images, method):
    """The trainer's run equals a plain loop over the sampler's plans: weighted mean of per-example
    cross-entropy, LR by epoch progress of the full-data schedule; the sampler sees each loss."""
    dyn = DynamicPruning(method, 0.4)
    rec = Recorder()
    res = train(tiny_images, CFG, dynamic=dyn, hooks=[rec])

    n = tiny_images.num_train
    sampler = dyn.sampler(n, CFG.epochs, CFG.order_seed)
    model = build_model("mlp", tiny_images.input_shape, tiny_images.num_classes, seed=CFG.init_seed)
    opt = torch.optim.SGD(model.parameters(), lr=CFG.lr, momentum=CFG.momentum, nesterov=True)
    full_steps = math.ceil(n / CFG.batch_size)
    seen, step = 0, 0
    for e in range(CFG.epochs):
        plan = sampler.plan(e)
        m = plan.indices.numel()
        nb = math.ceil(m / CFG.batch_size)
        for k in range(nb):
            j = torch.tensor_split(torch.arange(m), nb)[k]  # nb near-equal consecutive batches
            b = plan.indices[j]
            w = torch.ones(len(b)) if plan.weights is None else plan.weights[j]
            _, epoch_rec, idx_rec, _, _ = rec.batches[step]
            assert epoch_rec == e and torch.equal(idx_rec, b)
            for g in opt.param_groups:
                g["lr"] = lr_at(CFG, (e + k / nb) * full_steps, CFG.epochs * full_steps)
            per = [
                nn.functional.cross_entropy(model(tiny_images.x_train[i : i + 1]), tiny_images.y_train[i : i + 1])
                for i in b
            ]
            loss = sum(wi * li for wi, li in zip(w, per)) / len(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sampler.observe(b, torch.stack([li.detach() for li in per]))
            step += 1
        seen += m
    assert res.steps == step and res.examples_seen == seen
    for a, b in zip(res.model.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert seen < CFG.epochs * n
    # the reported saving is that of the examples the plans really visited, and the cap is counted
    assert res.dynamic == {"method": method, "fraction": 0.4, "saved_fraction": 1 - seen / (CFG.epochs * n),
                           **sampler.summary()}  # fmt: skip
    assert res.summary()["dynamic"] == res.dynamic
    if method == "infobatch":  # 4 epochs: pruning epochs 1 and 2 must skip 0.8 n each, more than 0.9 x below-mean
        assert sampler.summary() == {"pruning_epochs": 2, "capped_epochs": 2}
        assert res.dynamic["saved_fraction"] < 0.4


def test_dynamic_run_resumes_to_the_uninterrupted_result(tiny_images, tmp_path):
    dyn = DynamicPruning("infobatch", 0.3)
    cfg = TrainConfig(model="mlp", epochs=4, batch_size=32)
    whole = train(tiny_images, cfg, dynamic=dyn)

    class Killed(Exception):
        pass

    calls = []

    def die(step, total):
        calls.append(step)
        if len(calls) == 15:  # the 15th optimiser step: part-way through epoch 2 (about 6 steps an epoch)
            raise Killed

    ck = RunDirCheckpointer(tmp_path)
    with pytest.raises(Killed):
        train(tiny_images, cfg, dynamic=dyn, checkpointer=ck, progress=die)
    assert ck.load_state()["dynamic"]["epoch"] == 2 and ck.load_state()["step"] < 15
    resumed = train(tiny_images, cfg, dynamic=dyn, checkpointer=ck)
    assert resumed.examples_seen == whole.examples_seen and resumed.steps == whole.steps
    assert resumed.dynamic == whole.dynamic  # the capped epochs before the kill are kept in the resume state
    assert whole.dynamic["pruning_epochs"] == 2 and whole.dynamic["capped_epochs"] == 2
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_dynamic_refuses_what_does_not_apply(tiny_images):
    dyn = DynamicPruning("rs2", 0.5)
    for kw in ({"subset": np.arange(10)}, {"stop_at": 3}, {"start_step": 2}, {"checkpoint_steps": [4]}):
        with pytest.raises(DataDietError, match="dynamic pruning"):
            train(tiny_images, CFG, dynamic=dyn, **kw)
    with pytest.raises(DataDietError, match="steps"):
        train(tiny_images, TrainConfig(model="mlp", steps=5), dynamic=dyn)


# ---------------------------------------------------------------- in a user's own loop


def test_dynamic_sampler_in_a_plain_dataloader_loop(tiny_images):
    """The sampler yields each epoch's plan; rescale is the weighted mean and feeds InfoBatch the losses."""
    from torch.utils.data import DataLoader, TensorDataset

    from datadiet.training.sampler import DynamicSampler, Indexed

    ds = tiny_images
    n, epochs = ds.num_train, 4
    dyn = DynamicPruning("infobatch", 0.3)
    sampler = DynamicSampler(n, dyn, epochs=epochs, seed=5)
    reference = dyn.sampler(n, epochs, 5)  # the same pruner, driven by hand
    loader = DataLoader(Indexed(TensorDataset(ds.x_train, ds.y_train)), batch_size=50, sampler=sampler)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, ds.num_classes))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        plan = reference.plan(epoch)
        visited = []
        for idx, x, y in loader:
            losses = nn.functional.cross_entropy(model(x), y, reduction="none")
            w = torch.ones(n) if plan.weights is None else torch.ones(n).index_put((plan.indices,), plan.weights)
            want = (losses * w[idx]).mean()
            loss = sampler.rescale(idx, losses)
            torch.testing.assert_close(loss, want)
            reference.observe(idx, losses.detach())
            opt.zero_grad()
            loss.backward()
            opt.step()
            visited.append(idx)
        assert torch.equal(torch.cat(visited), plan.indices)
        seen += plan.indices.numel()
    assert sampler.examples_seen == seen < epochs * n
    with pytest.raises(DataDietError, match="in order"):
        sampler.set_epoch(1)
    with pytest.raises(DataDietError, match="reduction='none'"):
        DynamicSampler(n, dyn, epochs=3).rescale([0, 1], torch.zeros(()))


def test_dynamic_sampler_without_set_epoch_makes_each_pass_the_next_epoch(tiny_images):
    """A loop that never calls set_epoch still prunes (each pass over the loader plans the next epoch,
    as InfoBatch's own sampler does); a pass beyond the epochs it was made for is refused."""
    from torch.utils.data import DataLoader, TensorDataset

    from datadiet.training.sampler import DynamicSampler, Indexed

    ds = tiny_images
    n, epochs = ds.num_train, 4
    dyn = DynamicPruning("infobatch", 0.3)
    sampler = DynamicSampler(n, dyn, epochs=epochs, seed=5)
    reference = dyn.sampler(n, epochs, 5)
    loader = DataLoader(Indexed(TensorDataset(ds.x_train, ds.y_train)), batch_size=50, sampler=sampler)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, ds.num_classes))
    seen = 0
    for epoch in range(epochs):
        plan = reference.plan(epoch)
        visited = []
        for idx, x, y in loader:
            losses = nn.functional.cross_entropy(model(x), y, reduction="none")
            sampler.rescale(idx, losses)
            reference.observe(idx, losses.detach())
            visited.append(idx)
        assert sampler.epoch == epoch and torch.equal(torch.cat(visited), plan.indices)
        seen += plan.indices.numel()
    assert sampler.examples_seen == seen < epochs * n  # it pruned
    with pytest.raises(DataDietError, match="made for 4 epochs and all were iterated"):
        iter(sampler)
    rs2 = DynamicSampler(n, DynamicPruning("rs2", 0.5), epochs=2, seed=1)
    first, second = list(rs2), list(rs2)
    assert len(first) == len(second) == n // 2 and not set(first) & set(second)  # fresh examples each epoch
    explicit = DynamicSampler(n, DynamicPruning("rs2", 0.5), epochs=2, seed=1)
    explicit.set_epoch(0)
    assert list(explicit) == first  # set_epoch then a pass: the same epoch, not the next
