"""Sample weights: a loss multiplies each sample's loss by its weight before the mean;
``fit`` and ``evaluate`` divide a data set's weights by their mean first, so that they
report and minimise the weighted mean ``sum(w l) / sum(w)``.

The oracle is the definition: a sample's loss alone (``loss.forward`` on its row), and
the gradient of ``mean(w_i l_i)``, ``w_i / N`` times that sample's own gradient; then
PyTorch's autograd of the same mean, and the equivalences that make weights mean what
users expect (unit weights change nothing, nor does scaling every weight; an integer
weight repeats a sample, a zero weight removes it).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densenet as dn
from densenet.plan import TrainStep

from .conftest import mlp

N, C = 7, 3


def loss_cases(rng):
    """(loss, y_pred, y_true) for every loss and kind of target."""
    Z = rng.standard_normal((N, C))
    probabilities = rng.uniform(0.0, 1.0, (N, C))
    return {
        "mse": (dn.MSELoss(), Z, probabilities),
        "bce": (dn.BCELoss(), 1.0 / (1.0 + np.exp(-Z)), probabilities),
        "bce_with_logits": (dn.BCEWithLogitsLoss(), Z, probabilities),
        "cross_entropy_labels": (dn.CrossEntropyLoss(), Z, rng.integers(0, C, N)),
        "cross_entropy_probabilities": (dn.CrossEntropyLoss(), Z, probabilities),
        "poisson": (dn.PoissonNLLLoss(), Z, rng.poisson(2.0, (N, C)).astype(float)),
        "l1": (dn.L1Loss(), Z, probabilities),
        "huber": (dn.HuberLoss(delta=0.5), Z, probabilities),
        "smooth_l1": (dn.SmoothL1Loss(beta=0.5), Z, probabilities),
        "nll": (dn.NLLLoss(), Z, rng.integers(0, C, N)),
    }


CASES = list(loss_cases(np.random.default_rng(0)))


def weights(rng):
    w = rng.uniform(0.0, 3.0, N)
    w[2] = 0.0  # a sample that does not count
    return w


@pytest.mark.parametrize("case", CASES)
def test_a_loss_multiplies_each_sample_s_loss_by_its_weight_before_the_mean(case):
    rng = np.random.default_rng(1)
    loss, y_pred, y_true = loss_cases(rng)[case]
    w = weights(rng)
    alone = [loss.forward(y_pred[i:i + 1], y_true[i:i + 1]) for i in range(N)]
    gradients = []
    for i in range(N):
        loss.forward(y_pred[i:i + 1], y_true[i:i + 1])
        gradients.append(loss.backward()[0])
    value = loss.forward(y_pred, y_true, sample_weight=w)
    grad = loss.backward()
    assert_allclose(value, np.dot(w, alone) / N, rtol=1e-14)
    assert_allclose(grad, w[:, None] / N * np.array(gradients), rtol=1e-14, atol=1e-17)
    assert not grad[2].any()  # the zero-weight sample has no say


@pytest.mark.parametrize("case", CASES)
def test_the_weighted_loss_and_gradient_equal_pytorch_s(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    per_sample = {
        "mse": lambda z, t: F.mse_loss(z, t, reduction="none").mean(1),
        "bce": lambda z, t: F.binary_cross_entropy(z, t, reduction="none").mean(1),
        "bce_with_logits": lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none").mean(1),
        "cross_entropy_labels": lambda z, t: F.cross_entropy(z, t, reduction="none"),
        "cross_entropy_probabilities": lambda z, t: F.cross_entropy(z, t, reduction="none"),
        "nll": lambda z, t: F.nll_loss(z, t, reduction="none"),
        "poisson": lambda z, t: F.poisson_nll_loss(z, t, reduction="none").mean(1),
        "l1": lambda z, t: F.l1_loss(z, t, reduction="none").mean(1),
        "huber": lambda z, t: F.huber_loss(z, t, reduction="none", delta=0.5).mean(1),
        "smooth_l1": lambda z, t: F.smooth_l1_loss(z, t, reduction="none", beta=0.5).mean(1),
    }[case]
    rng = np.random.default_rng(2)
    loss, y_pred, y_true = loss_cases(rng)[case]
    w = weights(rng)
    z = torch.tensor(y_pred, requires_grad=True)
    tw = torch.tensor(w)
    expected = (per_sample(z, torch.tensor(y_true)) * tw).mean()
    expected.backward()
    assert_allclose(loss.forward(y_pred, y_true, sample_weight=w), expected.item(), rtol=1e-13)
    assert_allclose(loss.backward(), z.grad.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unit_weights_give_the_unweighted_gradient_bit_for_bit(case, dtype):
    loss, y_pred, y_true = loss_cases(np.random.default_rng(3))[case]
    y_pred = y_pred.astype(dtype)
    plain = loss.forward(y_pred, y_true)
    grad = loss.backward()
    weighted = loss.forward(y_pred, y_true, sample_weight=np.ones(N))
    assert_array_equal(loss.backward(), grad)
    assert weighted == pytest.approx(plain, rel=1e-6 if dtype == np.float32 else 1e-15)


def regression(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, rng.uniform(0.1, 0.9, (n, 2)), rng.integers(0, 4, n).astype(float)


@pytest.mark.parametrize("make_optimizer", [lambda: dn.SGD(0.5), lambda: dn.SGD(0.5, momentum=0.9),
                                            lambda: dn.Adam(0.01)], ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("sizes, batch_size", [((3, 8, 2), 5), ((3, 512, 512, 2), 24)],
                         ids=["small", "folded"])
def test_unit_weights_train_exactly_as_none(make_optimizer, sizes, batch_size):
    """Also where plain SGD and momentum fold their update into the gradient products
    (a largest product of 2**18 multiply-adds: 512 x 512 at 24 rows is above it)."""
    X, y, _ = regression()
    plain, weighted = mlp(sizes), mlp(sizes)
    h_plain = plain.fit(X, y, optimizer=make_optimizer(), epochs=3, batch_size=batch_size, seed=0)
    h_weighted = weighted.fit(X, y, optimizer=make_optimizer(), epochs=3, batch_size=batch_size, seed=0,
                              sample_weight=np.ones(len(X)))
    assert_array_equal(weighted.params, plain.params)
    assert_allclose(h_weighted.loss, h_plain.loss, rtol=1e-14)


@pytest.mark.parametrize("make_optimizer", [lambda: dn.SGD(0.5), lambda: dn.LBFGS()], ids=["sgd", "lbfgs"])
def test_an_integer_weight_counts_a_sample_that_many_times(make_optimizer):
    """Whole-batch steps, and L-BFGS over the batches of an epoch (its objective summed
    over 5-row chunks): a weight of k is the sample k times, a weight of 0 no sample."""
    X, y, counts = regression()
    repeated = np.repeat(np.arange(len(X)), counts.astype(int))
    weighted, copies = mlp((3, 8, 2)), mlp((3, 8, 2))
    n = len(X) if isinstance(make_optimizer(), dn.SGD) else 5
    h_weighted = weighted.fit(X, y, optimizer=make_optimizer(), epochs=4, batch_size=n, shuffle=False,
                              sample_weight=counts)
    h_copies = copies.fit(X[repeated], y[repeated], optimizer=make_optimizer(), epochs=4,
                          batch_size=len(repeated) if n == len(X) else 5, shuffle=False)
    assert_allclose(weighted.params, copies.params, rtol=1e-12, atol=1e-14)
    assert_allclose(h_weighted.loss, h_copies.loss, rtol=1e-12)


def test_shuffled_batches_carry_their_samples_weights():
    """``fit`` against a hand-written loop over the same shuffled batches, each sample's
    loss multiplied by its weight over the data set's mean weight: bit-identical weights."""
    X, y, _ = regression()
    w = np.random.default_rng(6).uniform(0.0, 2.0, len(X))
    model, by_hand = mlp((3, 8, 2)), mlp((3, 8, 2))
    model.fit(X, y, optimizer=dn.SGD(0.5), epochs=2, batch_size=5, seed=7, sample_weight=w)
    rng, loss, sgd = np.random.default_rng(7), dn.MSELoss(), dn.SGD(0.5)
    for _ in range(2):
        order = np.arange(len(X))
        rng.shuffle(order)
        for start in range(0, len(X), 5):
            rows = order[start:start + 5]
            loss.forward(by_hand.forward(X[rows]), y[rows], sample_weight=(w / w.mean())[rows])
            by_hand.backward(loss.backward(), input_grad=False)
            sgd.step(by_hand.params, by_hand.grads)
    assert_array_equal(model.params, by_hand.params)


def test_weights_act_at_batch_size_one():
    """Each sample's step is its weight over the mean weight times the unweighted step:
    weights 3 and 1 (mean 2) make steps of 1.5 and 0.5 times the rate."""
    X, y, _ = regression(n=2)
    model, by_hand = mlp((3, 8, 2)), mlp((3, 8, 2))
    model.fit(X, y, optimizer=dn.SGD(0.5), epochs=1, batch_size=1, shuffle=False, sample_weight=[3.0, 1.0])
    for i, lr in ((0, 0.75), (1, 0.25)):
        by_hand.fit(X[i:i + 1], y[i:i + 1], optimizer=dn.SGD(lr), epochs=1, batch_size=1)
    assert_allclose(model.params, by_hand.params, rtol=1e-14, atol=1e-16)
    plain = mlp((3, 8, 2))
    plain.fit(X, y, optimizer=dn.SGD(0.5), epochs=1, batch_size=1, shuffle=False)
    assert not np.allclose(model.params, plain.params, rtol=1e-6)  # unweighted steps end elsewhere


@pytest.mark.parametrize("make_optimizer", [lambda: dn.SGD(0.5), lambda: dn.LBFGS()], ids=["sgd", "lbfgs"])
def test_scaling_every_weight_changes_nothing(make_optimizer):
    X, y, _ = regression()
    w = np.random.default_rng(11).uniform(0.0, 2.0, len(X))
    one, thousand = mlp((3, 8, 2)), mlp((3, 8, 2))
    h_one = one.fit(X, y, optimizer=make_optimizer(), epochs=3, batch_size=5, seed=0, sample_weight=w)
    h_thousand = thousand.fit(X, y, optimizer=make_optimizer(), epochs=3, batch_size=5, seed=0,
                              sample_weight=1000 * w)
    assert_allclose(thousand.params, one.params, rtol=1e-12, atol=1e-15)
    assert_allclose(h_thousand.loss, h_one.loss, rtol=1e-12)
    assert_allclose(one.evaluate(X, y, sample_weight=1000 * w), one.evaluate(X, y, sample_weight=w),
                    rtol=1e-14)


def test_weights_so_small_that_their_mean_is_subnormal_count_as_their_ratios():
    """Weights that are multiples of the smallest subnormal number have a mean that rounds
    to a subnormal number (its ratios off) or to 0 (a division by zero): they count as the
    integers they are multiples of."""
    X, y, _ = regression()
    counts = np.random.default_rng(12).integers(0, 8, len(X)).astype(np.float64)
    tiny = float(np.finfo(np.float64).smallest_subnormal)
    for scale in (tiny, 2.0 ** -1060):
        whole, small = mlp((3, 8, 2)), mlp((3, 8, 2))
        h_whole = whole.fit(X, y, optimizer=dn.SGD(0.5), epochs=2, batch_size=5, seed=0, sample_weight=counts)
        h_small = small.fit(X, y, optimizer=dn.SGD(0.5), epochs=2, batch_size=5, seed=0,
                            sample_weight=counts * scale)
        assert_array_equal(small.params, whole.params)
        assert_array_equal(h_small.loss, h_whole.loss)
        evaluated = whole.evaluate(X, y, sample_weight=counts * scale)
        assert evaluated == whole.evaluate(X, y, sample_weight=counts)
    one = np.zeros(len(X))
    one[3] = tiny  # (its mean is 0)
    assert whole.evaluate(X, y, sample_weight=one) == whole.evaluate(X[3:4], y[3:4])


def test_the_epoch_loss_and_evaluate_are_weighted_means():
    X, y, _ = regression()
    w = np.random.default_rng(8).uniform(0.0, 2.0, len(X))
    model = mlp((3, 8, 2))
    history = model.fit(X, y, optimizer=dn.LBFGS(), epochs=3, sample_weight=w,
                        validation_data=(X[:10], y[:10], w[:10]))
    squares = ((model.predict(X) - y) ** 2).mean(axis=1)
    assert_allclose(model.evaluate(X, y, sample_weight=w), np.dot(w, squares) / w.sum(), rtol=1e-13)
    assert_allclose(history.val_loss[-1], np.dot(w[:10], squares[:10]) / w[:10].sum(), rtol=1e-13)
    assert_allclose(model.evaluate(X, y, sample_weight=np.ones(len(X))), model.evaluate(X, y), rtol=1e-15)
    assert model.evaluate(X, y, sample_weight=w) != pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_on_batch_end_gets_the_value_each_step_minimised():
    """The batch's mean of ``(w_i / mean(w)) l_i`` over all the data's weights, not the
    batch's own weighted mean. A learning rate of 1e-300 leaves the weights as they were,
    so each batch's losses are the starting model's."""
    X, y, _ = regression()
    w = np.random.default_rng(8).uniform(0.0, 2.0, len(X))
    model = mlp((3, 8, 2))
    squares = ((model.predict(X) - y) ** 2).mean(axis=1)
    seen = []

    class Record(dn.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    model.fit(X, y, optimizer=dn.SGD(1e-300), epochs=1, batch_size=8, shuffle=False, sample_weight=w,
              callbacks=[Record()])
    batches = [slice(i, i + 8) for i in range(0, len(X), 8)]
    assert len(seen) == len(batches)
    expected = [np.mean(w[b] / w.mean() * squares[b]) for b in batches]
    assert_allclose(seen, expected, rtol=1e-13)
    own_means = [np.dot(w[b], squares[b]) / w[b].sum() for b in batches]
    assert not np.allclose(seen, own_means, rtol=1e-3)


def test_a_batch_whose_weights_are_all_zero_contributes_nothing():
    """Its step has a zero gradient (plain SGD leaves the weights as they are) and its
    loss counts for nothing in the epoch's mean; the other batch's samples, weighted 1
    where the mean weight is 1/2, count twice: its step is that of twice the rate."""
    X, y, _ = regression(n=10)
    w = np.ones(10)
    w[5:] = 0.0
    model = mlp((3, 8, 2))
    history = model.fit(X, y, optimizer=dn.SGD(0.5), epochs=1, batch_size=5, shuffle=False, sample_weight=w)
    first = mlp((3, 8, 2))
    h_first = first.fit(X[:5], y[:5], optimizer=dn.SGD(1.0), epochs=1, batch_size=5, shuffle=False)
    assert_array_equal(model.params, first.params)
    assert history.loss[0] == pytest.approx(h_first.loss[0], rel=1e-15)  # summed in another order


BAD = [
    (np.ones(23), ValueError, r"sample_weight must be 1-D with one weight per sample, shape \(24,\), got "
                              r"shape \(23,\)"),
    (np.ones((24, 1)), ValueError, r"shape \(24,\), got shape \(24, 1\)"),
    (np.r_[np.ones(23), -1.0], ValueError, r"sample_weight must be >= 0; 1 weight\(s\) are not, the first "
                                           r"-1.0 at index 23"),
    (np.r_[0.0, 0.5, -2.0, np.ones(20), -0.5], ValueError, r"sample_weight must be >= 0; 2 weight\(s\) are "
                                                            r"not, the first -2.0 at index 2"),
    (np.r_[np.ones(23), np.nan], ValueError, r"sample_weight holds 1 non-finite value"),
    (np.zeros(24), ValueError, r"sample_weight is all zeros"),
    (np.r_[1e308, 1e308, np.ones(22)], ValueError,  # (their mean was inf: every weight 0, the loss 0)
     r"sample_weight sums to more than a float64 holds \(its largest weight is 1e\+308\): only the "
     r"weights' ratios count"),
    (["a"] * 24, TypeError, r"sample_weight must hold real numbers"),
]


@pytest.mark.parametrize("w, error, message", BAD)
def test_bad_weights_are_refused_before_anything_changes(w, error, message):
    X, y, _ = regression()
    model, adam = mlp((3, 8, 2)), dn.Adam()
    model.fit(X, y, optimizer=adam, epochs=1)
    params, state = model.params.copy(), adam.state_dict()
    with pytest.raises(error, match=message):
        model.fit(X, y, optimizer=adam, epochs=1, sample_weight=w)
    with pytest.raises(error, match=message):
        model.evaluate(X, y, sample_weight=w)
    if "all zeros" not in message:  # a loss multiplies by the weights as given: zeros give 0
        with pytest.raises(error, match=message):
            dn.MSELoss().forward(model.predict(X), y, sample_weight=w)
    with pytest.raises(error, match=message.replace("sample_weight", "w_val")):
        model.fit(X, y, optimizer=adam, validation_data=(X, y, w))
    assert_array_equal(model.params, params)
    assert adam.state_dict()["steps"] == state["steps"]
    assert_array_equal(adam.state_dict()["exp_avg"], state["exp_avg"])


@pytest.mark.parametrize("case", CASES)
def test_a_loss_takes_weights_that_are_all_zero(case):
    """Called by hand, a loss multiplies by the weights as given: all 0 is a loss and a
    gradient of 0 (a batch of such samples in a shuffled loop), not an error."""
    loss, y_pred, y_true = loss_cases(np.random.default_rng(12))[case]
    assert loss.forward(y_pred, y_true, sample_weight=np.zeros(N)) == 0.0
    assert_array_equal(loss.backward(), np.zeros_like(y_pred))


def test_weights_need_samples_along_the_first_axis():
    with pytest.raises(ValueError, match=r"MSELoss: sample_weight weighs the samples along y_pred's first "
                                         r"axis, but y_pred is a single number \(shape \(\)\)"):
        dn.MSELoss().forward(np.array(1.0), np.array(2.0), sample_weight=[1.0])
    loss = dn.MSELoss()  # a vector is N samples of one value each
    assert loss.forward(np.array([1.0, 3.0]), np.zeros(2), sample_weight=[1.0, 0.0]) == 0.5  # (1 + 0) / 2
    assert_array_equal(loss.backward(), [1.0, 0.0])


def test_a_loss_without_per_sample_losses_says_it_cannot_weigh_them():
    from densenet.loss import LossPlan

    class Total(dn.Loss):
        def plan(self, y_pred, y_true, grad):
            plan = dn.MSELoss().plan(y_pred, y_true, grad)
            return LossPlan(plan.forward, plan.value, plan.backward)

    X, y, _ = regression()
    model = mlp((3, 8, 2))
    params = model.params.copy()
    assert model.fit(X, y, loss=Total(), epochs=1).loss[0] > 0  # unweighted, it trains
    trained = model.params.copy()
    assert not np.array_equal(trained, params)
    with pytest.raises(TypeError, match=r"Total\(\) cannot weight its samples: its plan gives no per-sample "
                                        r"losses \(LossPlan.rows\)"):
        model.fit(X, y, loss=Total(), epochs=1, sample_weight=np.ones(len(X)))
    assert_array_equal(model.params, trained)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_steps_allocate_nothing(dtype):
    """The weighting's passes (the samples' losses, the weights' sum, the gradient's rows)
    run on arrays planned once: nothing per step, as the unweighted step."""
    from .test_memory import KIB, NUMPY_REDUCTION_BUFFER, traced_peak

    X, y, _ = regression(n=256)
    model = mlp((3, 64, 2), dtype=dtype)
    loss = dn.MSELoss()
    X, y = model.check_data(X, y, loss)
    step = TrainStep(model, loss, dn.SGD(0.1), 256, y, weighted=True)
    step.X[...], step.y[...], step.w[...] = X, y, np.linspace(0.0, 2.0, 256)

    def ten_steps():
        for _ in range(10):
            step()

    ten_steps()
    peak, _ = traced_peak(ten_steps)
    # (a copy of the 256 x 2 gradient alone would be 4 or 2 KiB more; the samples' losses
    # are a reduction over each row's outputs)
    assert peak <= 4 * KIB + NUMPY_REDUCTION_BUFFER


@pytest.mark.parametrize("case", CASES)
def test_weighted_gradients_pass_gradcheck(case):
    """Through every module and loss: the weighted loss's analytic gradients equal
    central differences of its value, and a wrong weighting fails the check."""
    loss, _, y_true = loss_cases(np.random.default_rng(9))[case]
    rng = np.random.default_rng(10)
    X = rng.standard_normal((N, 4))
    output = [dn.Sigmoid()] if case == "bce" else []
    model = dn.Sequential(dn.Dense(4, 5), dn.Tanh(), dn.Dense(5, 6), dn.ReLU(), dn.Dense(6, C), *output,
                          seed=0)
    w = weights(rng)
    assert dn.gradcheck(model, X, y_true, loss, sample_weight=w).ok

    class Unweighted(type(loss)):  # a plan that forgets to weight its gradient
        def weighted_plan(self, y_pred, y_true, grad, weight):
            plan = super().weighted_plan(y_pred, y_true, grad, weight)
            return type(plan)(plan.forward, plan.value, plan.backward[:-1], plan.rows)

    assert not dn.gradcheck(model, X, y_true, Unweighted(), sample_weight=w, raise_exception=False).ok
