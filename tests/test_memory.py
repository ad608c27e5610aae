"""Training allocates nothing per step (target P5), measured with tracemalloc.

Allocation counts are deterministic, so unlike timings they belong in the tests.
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

import densenet as dn
from densenet.plan import TrainStep

from .conftest import mlp

KIB = 1024

#: The smallest array of the 64-128-10 batch-32 steps traced below (32 x 10 float32, 1.25
#: KiB): a step that allocated any array would trace at least this much. What they trace
#: is Python bookkeeping (np.errstate in the sigmoid of large arrays), freed again: 776-800
#: bytes with NumPy 2.4-2.5, 872 with NumPy 1.24 on Python 3.11, 1,048-1,076 on Python 3.10.
SMALLEST_ARRAY = 32 * 10 * 4

#: Frames kept per allocation: enough to reach densenet's code from NumPy's.
STACK = 32

#: densenet's files, as tracemalloc names them.
DENSENET = os.path.join(os.path.dirname(dn.__file__), "*")


def traced_peak(work) -> tuple[int, int]:
    """(peak, still allocated) bytes traced while ``work()`` runs: the smallest of three runs.

    tracemalloc traces every thread, and a thread an earlier test left running (joblib's
    and Dask's workers) may allocate during a run now and then (a 2,252 B peak once in
    twelve full runs). What ``work`` itself allocates is there in every run; such a
    neighbour's allocation, in one or two. (tqdm's monitor thread is off: conftest.)

    What threadpoolctl keeps is not counted in "still allocated": the thread policy
    sets BLAS's thread count around a fit, and threadpoolctl looks up the C symbol on
    every call, leaving a few bytes (about 32 B per 200 calls, measured) that are not
    densenet's and do not grow with the number of steps.

    Each traced run follows two untraced ones: a run served from free lists that a full
    collection emptied traces what refills them (a softmax step's ten steps 8.4 KiB against
    3.5 KiB), and one run of ten steps does not refill them all: a cross-entropy step's at
    batch 1 traced 5,832 B after one and 1,496 B after two or more (a standalone script,
    every time); with one, that test failed its 4 KiB in the full suite under pytest-xdist
    (all three runs over it there), though not alone. A full collection runs before the
    snapshot: it empties CPython's free lists, whose blocks tracemalloc would otherwise count
    as still allocated. Which blocks sit there depends on what ran before (a fresh process
    kept 128 B more after a second fit than after the first), so without it the bytes left
    would not be a property of the fit.
    And only blocks allocated with densenet's code on the stack count: tracemalloc sees
    every thread, and earlier tests leave some running (tqdm's monitor, joblib's and
    Dask's workers), whose allocations fell into the window now and then (672 B once).

    What earlier tests left alive is moved out of the collector's sight while the runs last
    (``gc.freeze``): the full collections then scan only what ``work`` makes, and still
    empty CPython's free lists. With PyTorch, scikit-learn, ONNX, Dask, pandas, matplotlib
    and mypy loaded a full collection took 172 ms (28 ms with densenet alone), three a call.
    """
    import gc

    gc.freeze()
    try:
        runs = [_traced(work) for _ in range(3)]
    finally:
        gc.unfreeze()
    return min(peak for peak, _ in runs), min(kept for _, kept in runs)


def _traced(work) -> tuple[int, int]:
    import gc

    import threadpoolctl

    work()  # untraced: the runs refill CPython's free lists that the last collection emptied
    work()
    tracemalloc.start(STACK)
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = snapshot.filter_traces([tracemalloc.Filter(False, threadpoolctl.__file__, all_frames=True),
                                   tracemalloc.Filter(True, DENSENET, all_frames=True)])
    return peak, sum(trace.size for trace in ours.traces)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((256, 64)), rng.uniform(size=(256, 10))


def rows_for(batch_size, data):
    """The data, or its first 64 rows at batch size 1: an epoch of 64 steps still makes
    hundreds of steps in a few epochs, at a quarter of the traced time (tracemalloc
    slows every step)."""
    X, y = data
    return (X[:64], y[:64]) if batch_size == 1 else (X, y)


@pytest.mark.parametrize("make_optimizer", [lambda: dn.SGD(0.1), dn.Adam], ids=["SGD", "Adam"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_a_further_fit_peaks_below_64_kib(data, batch_size, shuffle, make_optimizer):
    """With an optimiser that has state too: the copy of it that undoes a diverging epoch
    (2 x 9,610 parameters, 150 KiB for Adam) is a spare the optimiser keeps."""
    X, y = rows_for(batch_size, data)
    model, optimizer = mlp((64, 128, 10)), make_optimizer()
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch_size, shuffle=shuffle)  # plans the steps
    peak, left = traced_peak(lambda: model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=batch_size,
                                               shuffle=shuffle))
    assert peak <= 64 * KIB
    assert left <= 1 * KIB


@pytest.mark.parametrize("make_optimizer", [
    lambda: dn.SGD(0.1), lambda: dn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda: dn.RMSprop(0.01, momentum=0.5, weight_decay=1e-4), dn.Adam, dn.NAdam,
    lambda: dn.RAdam(weight_decay=1e-4, decoupled_weight_decay=True), lambda: dn.Adamax(weight_decay=1e-4),
], ids=["SGD", "Nesterov", "RMSprop", "Adam", "NAdam", "RAdam", "Adamax"])
def test_a_momentum_scheduled_at_every_step_allocates_nothing(data, make_optimizer):
    """OneCycleLR sets the momentum (Adam's first beta) after every batch: the steps take
    it without being planned, or their work vectors made, again."""
    X, y = data
    model, optimizer = mlp((64, 128, 10)), make_optimizer()
    cycle = dn.OneCycleLR(optimizer, max_lr=0.01, total_steps=1000)
    model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=32, callbacks=[cycle])  # plans the steps
    peak, left = traced_peak(lambda: model.fit(X, y, optimizer=optimizer, epochs=3, batch_size=32,
                                               callbacks=[cycle]))
    assert len({cycle.values(k)[1] for k in range(cycle.step - 72, cycle.step)}) == 72  # (new at each step)
    assert peak <= 64 * KIB
    assert left <= 1 * KIB


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_what_a_fit_keeps_does_not_grow_with_its_steps(data, batch_size, shuffle):
    """Twice the steps keep no more: the bytes a fit leaves (NumPy's small bounded
    block cache) are not per step."""
    X, y = rows_for(batch_size, data)
    model = mlp((64, 128, 10))
    # past 256 steps first: CPython caches the ints up to 256, so a step count (the
    # optimiser's) below it is free and one above it is a new 28-byte int
    model.fit(X, y, epochs=-(-257 * batch_size // len(X)), batch_size=batch_size, shuffle=shuffle)
    _, short = traced_peak(lambda: model.fit(X, y, epochs=5, batch_size=batch_size, shuffle=shuffle))
    _, long = traced_peak(lambda: model.fit(X, y, epochs=10, batch_size=batch_size, shuffle=shuffle))
    # 5 more epochs: 40 (batch 32) or 320 (batch 1) more steps. Both runs are long: after
    # two epochs, Python 3.10 kept 150 B fewer of the small objects a step leaves alive (the last
    # step's floats and ints), whatever the steps after them
    assert long - short <= 64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_training_steps_allocate_nothing(data, batch_size, dtype):
    X, y = data
    model = mlp((64, 128, 10), dtype=dtype)
    loss = dn.MSELoss()
    X, y = model.check_data(X, y, loss)
    step = TrainStep(model, loss, dn.SGD(0.1), batch_size, y)
    step.X[...], step.y[...] = X[:batch_size], y[:batch_size]

    def hundred_steps():
        for _ in range(100):
            step()

    hundred_steps()  # warm-up
    peak, left = traced_peak(hundred_steps)
    # no array is allocated (SMALLEST_ARRAY), and a few bytes are kept
    assert peak < SMALLEST_ARRAY
    assert left <= 256


@pytest.mark.parametrize("batch_size", [1, 32])
def test_metrics_take_memory_for_kept_rows_only_and_keep_nothing_per_step(data, batch_size):
    """A step copies its outputs into the metrics' buffer of ``KEPT_ROWS`` rows, added to them
    when full: what they take besides the fit's own is bounded by that buffer (it, the rows'
    targets, the metric's temporaries), on four times the data too, and nothing stays."""
    from densenet.training import KEPT_ROWS

    X, y = rows_for(batch_size, data)
    y = np.eye(10)[y.argmax(axis=1)]  # one-hot: the accuracy of the highest output
    model = mlp((64, 128, 10))
    model.fit(X, y, epochs=-(-257 * batch_size // len(X)), batch_size=batch_size, metrics=["accuracy"])
    bound = 4 * KEPT_ROWS * 10 * 8
    for copies in (1, 8):
        more = np.tile(X, (copies, 1)), np.tile(y, (copies, 1))
        plain, _ = traced_peak(lambda data=more: model.fit(*data, epochs=1, batch_size=batch_size))
        peak, _ = traced_peak(lambda data=more: model.fit(*data, epochs=1, batch_size=batch_size,
                                                          metrics=["accuracy"]))
        assert peak - plain <= bound
    _, long = traced_peak(lambda: model.fit(X, y, epochs=4, batch_size=batch_size, metrics=["accuracy"]))
    _, short = traced_peak(lambda: model.fit(X, y, epochs=2, batch_size=batch_size, metrics=["accuracy"]))
    assert long - short <= 64


def test_fit_does_not_copy_data_of_the_models_dtype(data):
    X, y = data
    model = mlp((64, 128, 10))
    model.fit(X, y, epochs=1, batch_size=32)
    peak, _ = traced_peak(lambda: model.fit(X, y, epochs=1, batch_size=32))
    assert peak < X.nbytes
    X32 = X.astype(np.float32)  # converted once, at the boundary
    peak, _ = traced_peak(lambda: model.fit(X32, y, epochs=1, batch_size=32))
    assert X.nbytes <= peak < X.nbytes + 64 * KIB


def test_evaluating_again_costs_only_its_result(data):
    """``evaluate`` keeps its default loss, whose plans are made on the first call: a
    second call allocates no work arrays (the predictions, the loss's inputs and its
    gradient would be 3 x 20 KiB here), a copy of the model evaluates alike."""
    import copy

    X, y = data
    model = mlp((64, 128, 10))
    first = model.evaluate(X, y)
    peak, _ = traced_peak(lambda: model.evaluate(X, y))
    assert peak < y.nbytes + 4 * KIB
    twin = copy.deepcopy(model)
    assert twin.evaluate(X, y) == model.evaluate(X, y) == first


def first_call(work) -> tuple[int, int]:
    """(peak, still allocated) bytes traced while ``work()`` runs for the first time (what
    it builds and keeps counts): the smallest of three runs, each of a fresh ``work``
    (``work`` makes its model and loss anew)."""
    import gc

    runs = []
    for _ in range(3):
        gc.collect()
        tracemalloc.start()
        try:
            kept = work()
            _, peak = tracemalloc.get_traced_memory()
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del kept
        runs.append((peak, held))
    return min(peak for peak, _ in runs), min(held for _, held in runs)


@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample-weights"])
@pytest.mark.parametrize("loss", ["mse", "ce", "ce-weighted-ignoring", "bce-logits"])
def test_evaluate_holds_neither_the_outputs_nor_a_plan_of_the_datas_size(loss, weighted):
    """``evaluate`` computes its loss a chunk of rows at a time as it computes the outputs:
    twice the rows, in a first call on a new model and loss, take no more memory at the
    peak nor after (the loss keeps its plans). Computed on all the outputs at once, 1M rows
    of 10 classes (76 MiB of outputs) took 429 MiB at the peak and left 352 MiB in the loss's
    kept plan; here the 8,192 rows added added 1.1-2.4 MiB at the peak and 0.9-2.1 MiB kept."""
    from .test_evaluate import LOSSES, data, model_for

    make, outputs, kind = LOSSES[loss]
    X, y = data(kind, outputs, n=2 * 2 * 4096)  # (chunks of 4,096 rows: 2, then 4)
    w = np.random.default_rng(1).uniform(0.0, 2.0, len(X)) if weighted else None

    def evaluated(n):
        def work():
            model, made = model_for(loss, outputs), make()
            made.evaluate(np.zeros((1, outputs)), y[:1])  # (what a loss makes once, whatever the rows)
            model.evaluate(X[:n], y[:n], made, sample_weight=None if w is None else w[:n])
            return model, made
        return first_call(work)

    half, whole = evaluated(len(X) // 2), evaluated(len(X))
    weights = 0 if w is None else w.nbytes // 2  # (the added rows' weights over their mean, float64)
    assert whole[0] - half[0] <= weights + 64 * KIB, (half, whole)
    assert whole[1] - half[1] <= 16 * KIB, (half, whole)


#: NumPy before 2.3 takes an iterator buffer on every call of a reduction over a 2-D
#: array (a row's maximum or sum, ``np.max(X, axis=1, out=row)``; a whole array's sum): up
#: to 64 KiB, freed when the call returns (measured at 256 x 128: 66 KiB on NumPy 1.26.4 and
#: 2.2.6, 1 KiB on 2.3.5). Softmax, LayerNorm, the classification losses and the absolute
#: ones reduce so: on those NumPys their steps may peak that much higher, and no higher.
NUMPY_REDUCTION_BUFFER = 66 * KIB if np.lib.NumpyVersion(np.__version__) < "2.3.0" else 0
REDUCING = {"softmax", "cross_entropy_labels", "cross_entropy_probabilities", "cross_entropy_class_weights",
            "cross_entropy_smoothed_weighted_labels", "cross_entropy_ignored_labels",
            "cross_entropy_smoothed_ignored_labels",
            "cross_entropy_weighted_probabilities", "bce", "bce_with_logits", "poisson", "log_softmax",
            "log_softmax_nll", "log_softmax_weighted_ignored_nll", "layernorm", "l1", "huber", "smooth_l1"}
#: the blocks whose targets are labels (every seventh of them -100 for those ignoring it),
#: and those whose targets are class probabilities
IGNORING = {"cross_entropy_ignored_labels", "cross_entropy_smoothed_ignored_labels",
            "log_softmax_weighted_ignored_nll"}
LABELS = {"cross_entropy_labels", "cross_entropy_class_weights", "cross_entropy_smoothed_weighted_labels",
          "log_softmax_nll", *IGNORING}
PROBABILITIES = {"cross_entropy_probabilities", "cross_entropy_weighted_probabilities"}


def targets_of(block, y):
    """The block's targets from ``y`` (uniform values, (N, 10))."""
    if block in PROBABILITIES:
        return y / y.sum(axis=1, keepdims=True)
    if block not in LABELS:
        return y
    labels = np.argmax(y, axis=1)
    if block in IGNORING:
        labels[3::7] = -100
    return labels

#: (hidden activation, output activation or None, loss, optimiser): every block in a
#: training step, each beside the tutorial's recipe (sigmoid, MSE, SGD).
BLOCKS = {
    "sigmoid": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "relu": (dn.ReLU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "tanh": (dn.Tanh, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "leaky_relu": (dn.LeakyReLU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "gelu": (dn.GELU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "elu": (dn.ELU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "silu": (dn.SiLU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "selu": (dn.SELU, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "softplus": (lambda: dn.Softplus(2.0), dn.Softplus, dn.MSELoss, lambda: dn.SGD(0.1)),
    "prelu": (lambda: dn.PReLU(128), dn.PReLU, dn.MSELoss, lambda: dn.SGD(0.1)),
    "softmax": (dn.Softmax, dn.Softmax, dn.MSELoss, lambda: dn.SGD(0.1)),
    "log_softmax": (dn.LogSoftmax, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "log_softmax_nll": (dn.Sigmoid, dn.LogSoftmax, dn.NLLLoss, lambda: dn.SGD(0.1)),
    "log_softmax_weighted_ignored_nll": (
        dn.Sigmoid, dn.LogSoftmax, lambda: dn.NLLLoss(weight=np.linspace(0.5, 2, 10), ignore_index=-100),
        lambda: dn.SGD(0.1)),
    "cross_entropy_labels": (dn.Sigmoid, None, dn.CrossEntropyLoss, lambda: dn.SGD(0.1)),
    "cross_entropy_probabilities": (dn.Sigmoid, None, dn.CrossEntropyLoss, lambda: dn.SGD(0.1)),
    "bce": (dn.Sigmoid, dn.Sigmoid, dn.BCELoss, lambda: dn.SGD(0.1)),
    "bce_with_logits": (dn.Sigmoid, None, dn.BCEWithLogitsLoss, lambda: dn.SGD(0.1)),
    "poisson": (dn.Sigmoid, None, dn.PoissonNLLLoss, lambda: dn.SGD(0.1)),
    "l1": (dn.Sigmoid, None, dn.L1Loss, lambda: dn.SGD(0.1)),
    "huber": (dn.Sigmoid, None, dn.HuberLoss, lambda: dn.SGD(0.1)),
    "smooth_l1": (dn.Sigmoid, None, lambda: dn.SmoothL1Loss(0.5), lambda: dn.SGD(0.1)),
    "momentum": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1, momentum=0.9, nesterov=True)),
    "momentum_weight_decay": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss,
                              lambda: dn.SGD(0.1, momentum=0.9, weight_decay=1e-3)),  # (folded at 256)
    "adam": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss, lambda: dn.Adam(weight_decay=1e-3)),
    "adamw": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss, dn.AdamW),
    "rmsprop": (dn.Sigmoid, dn.Sigmoid, dn.MSELoss, lambda: dn.RMSprop(momentum=0.9, centered=True)),
    "dropout": (lambda: dn.Dropout(0.5), dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "alpha_dropout": (lambda: dn.AlphaDropout(0.1), dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "cross_entropy_class_weights": (dn.Sigmoid, None,
                                    lambda: dn.CrossEntropyLoss(weight=np.linspace(0.5, 2, 10)),
                                    lambda: dn.SGD(0.1)),
    "cross_entropy_smoothed_weighted_labels": (dn.Sigmoid, None,
                                               lambda: dn.CrossEntropyLoss(weight=np.linspace(0.5, 2, 10),
                                                                           label_smoothing=0.1),
                                               lambda: dn.SGD(0.1)),
    "cross_entropy_ignored_labels": (dn.Sigmoid, None, lambda: dn.CrossEntropyLoss(ignore_index=-100),
                                     lambda: dn.SGD(0.1)),
    "cross_entropy_smoothed_ignored_labels": (dn.Sigmoid, None,
                                              lambda: dn.CrossEntropyLoss(ignore_index=-100,
                                                                          label_smoothing=0.1),
                                              lambda: dn.SGD(0.1)),
    "cross_entropy_weighted_probabilities": (dn.Sigmoid, None,
                                             lambda: dn.CrossEntropyLoss(weight=np.linspace(0.5, 2, 10)),
                                             lambda: dn.SGD(0.1)),
    "batchnorm": (lambda: dn.BatchNorm1d(128), dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
    "layernorm": (lambda: dn.LayerNorm(128), dn.Sigmoid, dn.MSELoss, lambda: dn.SGD(0.1)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 256])
@pytest.mark.parametrize("block", list(BLOCKS))
def test_every_block_trains_without_allocating(data, block, batch_size, dtype):
    """A ufunc that broadcasts an (N, 1) column over (N, C) (a row's maximum, sum or
    dot product) takes an iterator buffer of up to 64 KiB on every call: no block's
    planned passes may do that."""
    hidden, output, make_loss, make_optimizer = BLOCKS[block]
    if block == "batchnorm" and batch_size == 1:
        batch_size = 2  # (a training batch of BatchNorm1d needs two rows)
    modules = [dn.Dense(64, 128), hidden(), dn.Dense(128, 10)] + ([output()] if output else [])
    model = dn.Sequential(*modules, dtype=dtype, seed=0)
    X, y = data
    y = targets_of(block, y)
    loss = make_loss()
    X, y = model.check_data(X[:batch_size], y[:batch_size], loss)
    step = TrainStep(model, loss, make_optimizer(), batch_size, y)
    step.X[...], step.y[...] = X, y

    def ten_steps():
        for _ in range(10):
            step()

    ten_steps()  # warm-up: an optimiser makes its state on its first step
    peak, _ = traced_peak(ten_steps)
    # the smallest array of the step (256 x 10 float32) is 10 KiB; what is traced is
    # bookkeeping: np.errstate, the reductions' and stacked products' iterators
    assert peak <= 4 * KIB + (NUMPY_REDUCTION_BUFFER if block in REDUCING else 0)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_what_a_step_allocates_does_not_grow_with_the_batch(block):
    """The same steps at 2,048 rows as at 256 allocate no more: a call that copies a
    batch-sized array (NumPy's take into out= with mode 'raise' buffers its output) would
    take 14,336 bytes more (float64)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2048, 64)), rng.uniform(size=(2048, 10))
    peaks = []
    for batch_size in (256, 2048):
        hidden, output, make_loss, make_optimizer = BLOCKS[block]
        modules = [dn.Dense(64, 128), hidden(), dn.Dense(128, 10)] + ([output()] if output else [])
        model = dn.Sequential(*modules, seed=0)
        targets = targets_of(block, y)
        loss = make_loss()
        rows, targets = model.check_data(X[:batch_size], targets[:batch_size], loss)
        step = TrainStep(model, loss, make_optimizer(), batch_size, targets)
        step.X[...], step.y[...] = rows, targets

        def two_steps(step=step):
            step()
            step()

        two_steps()
        traced_peak(two_steps)  # a process's first measurement reads 2 KiB lower than the next ones
        peaks.append(traced_peak(two_steps)[0])
    assert peaks[1] - peaks[0] <= 256 + (NUMPY_REDUCTION_BUFFER if block in REDUCING else 0), peaks


def grown_peak(work, X) -> int:
    """The peak traced while ``work(X)`` runs less that of ``work`` on the first half of ``X``."""
    return traced_peak(lambda: work(X))[0] - traced_peak(lambda: work(X[:len(X) // 2]))[0]


#: Data dtypes beside a model's: another float, the integers of images and counts.
SOURCES = [np.float32, np.float64, np.uint8]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("source", SOURCES, ids=lambda t: np.dtype(t).name)
def test_predict_and_evaluate_never_copy_data_of_another_dtype_whole(dtype, source):
    """``predict`` and ``evaluate`` work through ``X`` 4096 rows at a time, so that their
    memory does not grow with the data: data of another dtype than the model's (float64
    rows for a float32 model, uint8 images) is converted a chunk at a time too. Doubling
    the rows adds the outputs' bytes, not a copy of ``X``; the results are those of the
    data converted first."""
    model = mlp((64, 16, 2), dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16_384, 64)).astype(source)
    y = rng.uniform(size=(16_384, 2)).astype(dtype)
    converted = X.astype(dtype)
    assert np.array_equal(model.predict(X), model.predict(converted))
    assert model.evaluate(X, y) == model.evaluate(converted, y)
    outputs = 8_192 * 2 * model.dtype.itemsize  # (those of the rows added; half a copy: 2 MiB or more)
    assert grown_peak(model.predict, X) <= outputs + 64 * KIB
    assert grown_peak(lambda X: model.evaluate(X, y[:len(X)]), X) <= outputs + 64 * KIB


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("source", SOURCES, ids=lambda t: np.dtype(t).name)
def test_data_of_another_dtype_is_converted_straight_into_the_plans_input(dtype, source):
    """Each batch of such data is converted into the input of the plan that runs it, as the
    model's own dtype is copied there: ``predict`` holds what it holds for the converted
    data (a batch's array more before, and a copy of each batch from it into the plan)."""
    if source == dtype:
        pytest.skip("the model's own dtype")
    model = mlp((64, 16, 2), dtype=dtype)
    X = np.random.default_rng(0).integers(0, 256, (16_384, 64)).astype(source)
    converted = X.astype(dtype)
    assert np.array_equal(model.predict(X), model.predict(converted))
    assert traced_peak(lambda: model.predict(X))[0] <= traced_peak(lambda: model.predict(converted))[0] + KIB


def test_predict_and_evaluate_check_a_column_slice_without_a_temporary_of_its_size():
    """``data[:, :-1]`` is no contiguous block, which ``abs_sum`` reads in one pass: the exact
    check of its values takes slices of its rows (``np.isfinite`` of the whole made a boolean
    array an eighth of its size)."""
    model = mlp((64, 16, 2))
    data = np.random.default_rng(0).standard_normal((16_384, 66))
    X, y = data[:, :-2], data[:, -2:]
    outputs = 8_192 * 2 * 8  # (those of the rows added; an eighth of half of X: 512 KiB)
    assert grown_peak(model.predict, X) <= outputs + 64 * KIB
    assert grown_peak(lambda X: model.evaluate(X, y[:len(X)]), X) <= outputs + 64 * KIB
    X[9_000, 5] = np.nan
    with pytest.raises(ValueError, match=r"^X holds 1 non-finite value\(s\) \(NaN or inf\) as float64, "
                                         r"the first at index \(9000, 5\)$"):
        model.predict(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("source", SOURCES, ids=lambda t: np.dtype(t).name)
def test_predict_and_evaluate_never_copy_a_dataframe_whole(dtype, source):
    """A DataFrame of one dtype is one block of NumPy's (Fortran-ordered): ``predict`` reads
    it as it is, converting a batch at a time as it would the array. (It became float64
    first, beside a boolean table of its missing values: 9 times a uint8 frame's bytes.)"""
    pd = pytest.importorskip("pandas")
    model = mlp((64, 16, 2), dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16_384, 64)).astype(source)
    y = rng.uniform(size=(16_384, 2)).astype(dtype)
    frame, half = pd.DataFrame(X), pd.DataFrame(X[:8_192])
    assert np.array_equal(model.predict(frame), model.predict(X))
    assert model.evaluate(frame, pd.DataFrame(y)) == model.evaluate(X, y)
    outputs = 8_192 * 2 * model.dtype.itemsize  # (those of the rows added; a boolean table of them: 512 KiB)
    assert traced_peak(lambda: model.predict(frame))[0] - traced_peak(lambda: model.predict(half))[0] \
        <= outputs + 64 * KIB
    assert traced_peak(lambda: model.evaluate(frame, y))[0] \
        - traced_peak(lambda: model.evaluate(half, y[:8_192]))[0] <= outputs + 64 * KIB


def test_a_loss_keeps_its_plans_in_row_order_whatever_the_targets_layout():
    """A loss keeps a plan per shape and dtype: one made for Fortran-ordered targets (a
    DataFrame's two columns) ran its passes over arrays of two layouts ever after, through
    NumPy's buffers (64 KiB more for every later ``evaluate``)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16_384, 64)), rng.uniform(size=(16_384, 2))
    model, fresh = mlp((64, 16, 2)), mlp((64, 16, 2))
    assert model.evaluate(X, np.asfortranarray(y)) == fresh.evaluate(X, y)
    assert traced_peak(lambda: model.evaluate(X, y))[0] <= traced_peak(lambda: fresh.evaluate(X, y))[0] + KIB


@pytest.mark.parametrize("source", SOURCES, ids=lambda t: np.dtype(t).name)
def test_fit_on_a_dataframe_holds_one_copy_of_it(source):
    """``fit`` converts data whole, once: a DataFrame into one C-ordered array of the
    model's dtype, which its shuffled steps gather rows from (it was converted to float64,
    then to the model's dtype in Fortran order, then copied into C order: three copies at
    once, and a boolean table of its missing values)."""
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).integers(0, 256, (16_384, 64)).astype(source)
    y = X[:, :2] / 256.0
    models = {data: mlp((64, 16, 2), dtype=np.float32) for data in ("ordered", "frame")}
    peaks = {}
    for data, given in [("ordered", X.astype(np.float32)), ("frame", pd.DataFrame(X))]:
        tracemalloc.start()
        try:
            models[data].fit(given, y, epochs=1, batch_size=256, seed=0)
            peaks[data] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert np.array_equal(models["frame"].params, models["ordered"].params)
    assert peaks["frame"] - peaks["ordered"] <= X.size * 4 + 64 * KIB, peaks  # (one float32 copy: 4 MiB)


@pytest.mark.parametrize("source", SOURCES, ids=lambda t: np.dtype(t).name)
def test_update_bn_never_copies_data_of_another_dtype_whole(source):
    model = dn.Sequential(dn.Dense(64, 16), dn.BatchNorm1d(16), dn.ReLU(), dn.Dense(16, 2), seed=0,
                          dtype=np.float32)
    X = np.random.default_rng(0).integers(0, 256, (16_384, 64)).astype(source)
    twin = model.clone()
    dn.update_bn(model, X, batch_size=256)
    dn.update_bn(twin, X.astype(np.float32), batch_size=256)
    assert np.array_equal(model.state, twin.state)
    assert grown_peak(lambda X: dn.update_bn(model, X, batch_size=256), X) <= 64 * KIB


def test_a_float32_estimator_predicts_float64_rows_without_a_whole_copy():
    """scikit-learn's ``validate_data`` would convert ``X`` to the estimator's dtype whole:
    the other float dtype is passed on as it is, for the network to convert a batch at a
    time (and a value beyond float32 is refused by its place in ``X``)."""
    import warnings

    pytest.importorskip("sklearn")
    from densenet.sklearn import DenseNetRegressor

    X = np.random.default_rng(0).standard_normal((16_384, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (not converged, after an epoch)
        estimator = DenseNetRegressor(hidden_layer_sizes=(16,), max_iter=1, dtype="float32",
                                      random_state=0).fit(X[:256], X[:256, 0])
    assert np.array_equal(estimator.predict(X), estimator.predict(X.astype(np.float32)))
    assert grown_peak(estimator.predict, X) <= 8_192 * 4 + 64 * KIB  # (the outputs; half a copy: 2 MiB)
    X[9_000, 3] = 1e39
    with pytest.raises(ValueError, match=r"^X holds 1 non-finite value\(s\) \(NaN or inf\) as float32, the "
                                         r"first at index \(9000, 3\)$"):
        estimator.predict(X)


class PeakPerStep(dn.Callback):
    """The bytes tracemalloc traced at most between one batch's end and the next's, above
    what was allocated at the first (tracing when fit starts)."""

    def on_train_begin(self, logs=None):
        self.peaks, self.held = [], tracemalloc.get_traced_memory()[0]

    def on_batch_end(self, batch, logs=None):
        held, peak = tracemalloc.get_traced_memory()
        self.peaks.append(peak - self.held)
        tracemalloc.reset_peak()
        self.held = held


@pytest.mark.parametrize("layout", ["fortran", "column-slice", "dataframe"])
def test_shuffled_steps_gather_rows_without_copying_data_of_any_layout(layout):
    """``np.take`` copies a source that is not one C-ordered block whole before it gathers
    rows from it: a fit on a DataFrame's values (Fortran-ordered), or on ``data[:, :-1]``
    and ``data[:, -1]``, copied ``X`` and ``y`` at every shuffled step (80-220x the time of
    the same fit on C-ordered data). The fit makes a C-ordered copy once, and then trains as on
    C-ordered data: no step allocates, and the weights are the same bits."""
    data = np.random.default_rng(0).standard_normal((4096, 65))
    X, y, weights = data[:, :-1], data[:, -1], np.abs(data)[:, 0]  # (columns: strided views)
    if layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "dataframe":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X)
    ordered, model, peaks = mlp((64, 16, 1)), mlp((64, 16, 1)), PeakPerStep()
    ordered.fit(np.ascontiguousarray(X), np.ascontiguousarray(y), epochs=2, batch_size=64, seed=0,
                sample_weight=weights)
    tracemalloc.start()
    try:
        model.fit(X, y, epochs=2, batch_size=64, seed=0, callbacks=[peaks], sample_weight=weights)
    finally:
        tracemalloc.stop()
    assert np.array_equal(model.params, ordered.params)
    assert len(peaks.peaks) == 128, max(peaks.peaks[1:])
    assert max(peaks.peaks[1:]) < 16 * KIB, max(peaks.peaks[1:])  # (X: 2 MiB)
