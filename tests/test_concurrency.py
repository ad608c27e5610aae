"""One model, loss or module used from several Python threads at once (a threaded server's
predictions, inference beside a training loop): every call gets the answer it gets alone.

A planned pass writes into arrays allocated with its plan; threads sharing one plan would
write into each other's activations. Each test runs the threads many times over arrays
large enough for their passes to overlap (NumPy and BLAS release the GIL), and compares
with the same calls made in one thread.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.testing import assert_array_equal

import densenet as dn

from .conftest import mlp

ROUNDS = 150


def in_threads(*works):
    """Run each ``work(i)`` for i in range(ROUNDS), each work in its own thread, started
    together; re-raise the first error."""
    start, errors = threading.Barrier(len(works), timeout=60), []

    def run(work):
        try:
            start.wait()
            for i in range(ROUNDS):
                work(i)
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


def data(count, rows=32, width=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((rows, width)) for _ in range(count)]


def test_predictions_in_several_threads_are_the_ones_made_alone():
    model = mlp((64, 256, 256, 10), seed=0)
    inputs = data(3)
    alone = [model.predict(X) for X in inputs]
    wrong = [0, 0, 0]

    def predicting(k):
        def work(i):
            wrong[k] += not np.array_equal(model.predict(inputs[k]), alone[k])
        return work

    in_threads(*(predicting(k) for k in range(3)))
    assert wrong == [0, 0, 0]


def test_forward_and_evaluate_in_several_threads_are_the_ones_made_alone():
    model = mlp((64, 256, 256, 10), seed=0)
    inputs, targets = data(2), data(2, width=10, seed=1)
    outputs = [model.forward(X) for X in inputs]
    losses = [model.evaluate(X, T) for X, T in zip(inputs, targets)]
    wrong = {(kind, k): 0 for kind in ("forward", "evaluate") for k in range(2)}

    def using(k):
        def work(i):
            wrong["forward", k] += not np.array_equal(model(inputs[k]), outputs[k])
            wrong["evaluate", k] += model.evaluate(inputs[k], targets[k]) != losses[k]
        return work

    in_threads(using(0), using(1))
    assert wrong == dict.fromkeys(wrong, 0)


def test_a_training_loop_beside_predictions_in_another_thread_trains_as_alone():
    """A hand-written loop (forward, loss, backward, step) in one thread while another
    thread runs the same model's forward and predict: the weights end as they do alone,
    bit for bit (predictions read the weights, never write them)."""
    X, T = data(1)[0], data(1, width=10, seed=1)[0] * 0.1
    others = data(2, seed=2)

    def train(model):
        loss, optimizer = dn.MSELoss(), dn.SGD(0.5)

        def work(i):
            loss.forward(model.forward(X), T)
            model.backward(loss.backward(), input_grad=False)
            optimizer.step(model.params, model.grads)
        return work

    alone = mlp((64, 256, 256, 10), seed=0)
    step = train(alone)
    for i in range(ROUNDS):
        step(i)

    model = mlp((64, 256, 256, 10), seed=0)
    in_threads(train(model), lambda i: (model(others[0]), model.predict(others[1])))
    assert_array_equal(model.params, alone.params)


def test_a_shared_loss_and_module_in_several_threads_give_the_answers_made_alone():
    loss, sigmoid = dn.MSELoss(), dn.Sigmoid()
    pairs = [(P, T) for P, T in zip(data(2, width=256), data(2, width=256, seed=1))]
    values = [loss.forward(P, T) for P, T in pairs]
    gradients = [(loss.forward(P, T), loss.backward())[1] for P, T in pairs]
    outputs = [sigmoid.forward(P) for P, _ in pairs]
    inputs_grads = [(sigmoid.forward(P), sigmoid.backward(T))[1] for P, T in pairs]
    wrong = {(kind, k): 0 for kind in ("value", "gradient", "output", "input gradient") for k in range(2)}

    def using(k):
        P, T = pairs[k]

        def work(i):
            wrong["value", k] += loss.forward(P, T) != values[k]
            wrong["gradient", k] += not np.array_equal(loss.backward(), gradients[k])
            wrong["output", k] += not np.array_equal(sigmoid.forward(P), outputs[k])
            wrong["input gradient", k] += not np.array_equal(sigmoid.backward(T), inputs_grads[k])
        return work

    in_threads(using(0), using(1))
    assert wrong == dict.fromkeys(wrong, 0)


def test_threads_that_predicted_leave_the_model_holding_what_one_thread_would():
    """Eight living threads that each predicted on a batch size of their own: the model
    keeps the plans given back up to KEPT_PLANS, as for one thread, not one set per
    thread (a 4096-row plan of 784-512-512-10 holds about 100 MiB)."""
    import gc
    import tracemalloc

    from densenet.model import KEPT_PLANS

    model = mlp((8, 16, 4), seed=0)
    inputs = [np.ones((1100 + i, 8)) for i in range(8)]
    arrived, leave = (threading.Barrier(len(inputs) + 1, timeout=60) for _ in range(2))

    def work(X):
        model.predict(X)
        arrived.wait()
        leave.wait()

    tracemalloc.start()
    try:
        model.predict(inputs[0])
        gc.collect()
        one = tracemalloc.get_traced_memory()[0]
        threads = [threading.Thread(target=work, args=(X,)) for X in inputs]
        for thread in threads:
            thread.start()
        arrived.wait()  # every thread alive, each after its prediction
        gc.collect()
        living = tracemalloc.get_traced_memory()[0]
        leave.wait()
        for thread in threads:
            thread.join(60)
    finally:
        tracemalloc.stop()
    assert len(inputs) > KEPT_PLANS
    assert living < (KEPT_PLANS + 0.5) * one


def test_predictions_and_a_training_pass_at_one_batch_size_keep_their_plans_apart():
    """A prediction's plan has no dL/dX: a forward of the same batch size after a
    prediction must not be lent the plan the prediction gave back."""
    X, dY = np.random.default_rng(0).standard_normal((4, 3)), np.ones((4, 2))
    reference = mlp((3, 5, 2), seed=1)
    reference.forward(X)
    model = mlp((3, 5, 2), seed=1)
    model.predict(X)  # a 4-row prediction plan, given back
    model.forward(X)
    assert_array_equal(model.backward(dY), reference.backward(dY))
