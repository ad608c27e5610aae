"""Group ``sparse``: one epoch of a 10000-64-5 ReLU network with softmax cross-entropy and
plain SGD on 1,024 rows of 50 word counts among 10,000 words (``workloads.bag_of_words``):
densenet on the SciPy CSR rows (a first ``Dense`` multiplies them as they are), densenet on
the same rows dense, and scikit-learn's MLPClassifier on the CSR rows, at batch 32 and 256."""

from __future__ import annotations

import numpy as np
import pytest
import workloads

SIDES = ["densenet-sparse", "densenet-dense", "sklearn-sparse"]


@pytest.mark.benchmark(group="sparse")
@pytest.mark.parametrize("batch_size", [32, 256])
@pytest.mark.parametrize("side", SIDES)
def test_epoch(benchmark, side, batch_size):
    if side.startswith("sklearn"):
        pytest.importorskip("sklearn")
    work = workloads.sparse_epochs(batch_size)[side]
    words, hidden, classes = workloads.BAG_OF_WORDS
    benchmark.extra_info.update(network=f"{words}-{hidden}-{classes}", batch_size=batch_size, rows=1024,
                                nonzeros_per_row=50, dtype="float64")
    result = benchmark.pedantic(work, rounds=5, warmup_rounds=1)
    assert np.isfinite(result).all()


def test_the_sparse_and_dense_epochs_train_alike():
    """Not timed: an epoch on the sparse rows gives the parameters an epoch on the same rows
    dense gives, to rounding (the same sums in another order), and changes them."""
    works = workloads.sparse_epochs(32, n=256)
    start = works["densenet-sparse"]().copy()  # (one epoch in, the next is compared)
    works["densenet-dense"]()
    on_sparse, on_dense = works["densenet-sparse"](), works["densenet-dense"]()
    assert np.abs(on_sparse - on_dense).max() <= 1e-12 * np.abs(on_dense).max()
    assert np.abs(on_sparse - start).max() > 1e-4
