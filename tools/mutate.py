"""Mutation testing: plant one small bug at a time in densenet's core and check that
the test suite fails.

    python tools/mutate.py [--sample 200] [--seed 0] [--jobs 2] [--files chain.py ...]
                           [--only model.py:152 ...] [--list] [--out mutants.json]

Each mutant is the source of one core file with one change made on its syntax tree
(the operators below), spliced into the file's text (the rest as written: comments
such as ``# type: ignore``, which the type check reads, and line numbers kept; a
rewritten file failed the type check whatever the change, killing mutants that no
other test would), written into a scratch copy of the repository; the core
tests run on that copy (``pytest -x``, the file's own tests first, Hypothesis
derandomised) and the mutant is *killed* when they fail or time out, *survives*
when they pass. The score is killed / (mutants - equivalent), where the
equivalent mutants are those listed in ``EQUIVALENT`` with the reason no test can
tell them from the original. ``--list`` only prints the mutants.

Operators: ``+``/``-`` and ``*``/``/`` swapped; each comparison replaced by its
boundary twin (``<``/``<=``, ``>``/``>=``) or its negation (``==``/``!=``,
``is``/``is not``, ``in``/``not in``); ``and``/``or`` swapped; a ``not`` dropped;
NumPy's ``add``/``subtract``, ``multiply``/``divide``, ``maximum``/``minimum`` swapped;
a planned call (a ``partial`` in a list of passes) dropped;
an ``if`` or ``while`` condition negated; a number changed (0 -> 1, n -> n + 1, a
float doubled) and ``True``/``False`` swapped; a call statement, an assignment
into an array or attribute, or an augmented assignment replaced by ``pass``.
Docstrings, annotations, error messages and ``__repr__`` are left alone: what
they would change is wording, not behaviour.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The core: everything below the edges of DESIGN.md's layering.
CORE = ["_validation.py", "cblas.py", "numpy_loops.py", "backend.py", "thread_policy.py", "normal.py",
        "elementary.py", "vector_ops.py", "subnormal.py", "init.py", "clipping.py", "chain.py", "kept.py",
        "module.py", "dense.py", "sigmoid.py", "relu.py",
        "leaky_relu.py", "prelu.py", "elu.py", "selu.py", "tanh.py", "gelu.py", "silu.py", "softplus.py",
        "softmax.py", "log_softmax.py", "dropout.py", "alpha_dropout.py", "batchnorm.py", "layernorm.py",
        "metric.py", "accuracy.py", "absolute_error.py", "squared_error.py", "r2.py", "auc.py", "counts.py",
        "f1.py", "precision.py", "recall.py", "loss.py", "mse.py", "l1.py", "huber.py", "smooth_l1.py",
        "class_loss.py", "cross_entropy.py", "nll.py", "bce.py", "bce_with_logits.py", "poisson.py",
        "metric_names.py", "optimizer.py", "moments.py", "sgd.py", "adam.py", "rmsprop.py", "adagrad.py",
        "radam.py", "nadam.py", "adamax.py", "adamw.py", "lbfgs.py", "plan.py", "callbacks.py",
        "schedules.py", "checkpoint.py", "averaging.py", "interrupt.py", "training.py", "io.py",
        "model.py",
        "loading.py"]

#: The tests a mutant of the core must fail: all but those of the edges and the layout
#: (the ONNX tests stay: each module's ``to_onnx`` is core code).
TESTS = ["tests", "README.md", "densenet",
         "--ignore=tests/test_sklearn.py", "--ignore=tests/test_examples.py",
         "--ignore=tests/test_datasets.py", "--ignore=tests/test_plot.py", "--ignore=tests/test_layout.py",
         "--ignore=tests/test_mutate.py",
         "--ignore=densenet/sklearn.py", "--ignore=densenet/onnx.py", "--ignore=densenet/datasets.py",
         "--ignore=densenet/plot.py"]

#: A file's own tests run first, so that most mutants are killed in seconds.
OWN_TESTS = {
    "_validation.py": ["test_sample_weight.py", "test_errors.py", "test_checks.py", "test_sparse.py",
                       "test_protocol.py", "test_safety.py", "test_memory.py"],
    "cblas.py": ["test_cblas.py"],
    "vector_ops.py": ["test_vector_ops.py", "test_optimizers.py", "test_cblas.py"],
    "subnormal.py": ["test_optimizers.py", "test_memory.py"],
    "backend.py": ["test_threads.py", "test_products.py", "test_in_place.py", "test_checks.py",
                   "test_cblas.py", "test_sparse.py", "test_memory.py", "test_elementary.py"],
    "thread_policy.py": ["test_threads.py", "test_cblas.py", "test_callbacks.py"],
    "numpy_loops.py": ["test_elementary.py", "test_cblas.py"],
    "normal.py": ["test_normal.py", "test_activations.py", "test_onnx.py"],
    "elementary.py": ["test_elementary.py", "test_activations.py"],
    "init.py": ["test_init.py"],
    "clipping.py": ["test_clipping.py"],
    "chain.py": ["test_model.py", "test_protocol.py", "test_products.py", "test_in_place.py",
                 "test_sparse.py", "test_dropout.py"],
    "module.py": ["test_protocol.py", "test_copies.py", "test_in_place.py"],
    "dense.py": ["test_layers.py", "test_products.py", "test_in_place.py", "test_sparse.py"],
    "sigmoid.py": ["test_activations.py", "test_in_place.py"],
    "relu.py": ["test_activations.py", "test_in_place.py"],
    "tanh.py": ["test_activations.py", "test_in_place.py"],
    "leaky_relu.py": ["test_activations.py", "test_in_place.py"],
    "gelu.py": ["test_activations.py", "test_in_place.py", "test_onnx.py"],
    "elu.py": ["test_activations.py", "test_in_place.py", "test_elementary.py"],
    "selu.py": ["test_activations.py", "test_in_place.py", "test_elementary.py"],
    "prelu.py": ["test_prelu.py", "test_activations.py"],
    "silu.py": ["test_activations.py", "test_in_place.py"],
    "softplus.py": ["test_activations.py", "test_in_place.py", "test_elementary.py"],
    "softmax.py": ["test_activations.py"],
    "dropout.py": ["test_dropout.py", "test_in_place.py"],
    "batchnorm.py": ["test_batchnorm.py", "test_products.py", "test_in_place.py"],
    "layernorm.py": ["test_layernorm.py"],
    "metric.py": ["test_metrics.py"],
    "accuracy.py": ["test_metrics.py"],
    "absolute_error.py": ["test_metrics.py"],
    "squared_error.py": ["test_metrics.py"],
    "r2.py": ["test_metrics.py"],
    "auc.py": ["test_metrics.py"],
    "counts.py": ["test_metrics.py"],
    "f1.py": ["test_metrics.py"],
    "precision.py": ["test_metrics.py"],
    "recall.py": ["test_metrics.py"],
    "metric_names.py": ["test_metrics.py"],
    "loss.py": ["test_sample_weight.py", "test_losses.py", "test_metrics.py", "test_protocol.py"],
    "mse.py": ["test_sample_weight.py", "test_losses.py"],
    "class_loss.py": ["test_sample_weight.py", "test_classification_losses.py", "test_nll.py"],
    "cross_entropy.py": ["test_sample_weight.py", "test_classification_losses.py"],
    "nll.py": ["test_nll.py", "test_sample_weight.py"],
    "log_softmax.py": ["test_nll.py", "test_activations.py"],
    "alpha_dropout.py": ["test_alpha_dropout.py", "test_in_place.py"],
    "bce.py": ["test_sample_weight.py", "test_classification_losses.py"],
    "bce_with_logits.py": ["test_sample_weight.py", "test_classification_losses.py"],
    "poisson.py": ["test_poisson.py", "test_sample_weight.py"],
    "l1.py": ["test_regression_losses.py", "test_sample_weight.py"],
    "huber.py": ["test_regression_losses.py", "test_sample_weight.py"],
    "smooth_l1.py": ["test_regression_losses.py", "test_sample_weight.py"],
    "optimizer.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py", "test_protocol.py"],
    "sgd.py": ["test_lr_scale.py", "test_optim.py", "test_optimizers.py", "test_decay_mask.py"],
    "adam.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "rmsprop.py": ["test_lr_scale.py", "test_optimizers.py", "test_memory.py", "test_decay_mask.py"],
    "adamw.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "moments.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "adagrad.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "radam.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "nadam.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "adamax.py": ["test_lr_scale.py", "test_optimizers.py", "test_decay_mask.py"],
    "lbfgs.py": ["test_lr_scale.py", "test_lbfgs.py", "test_decay_mask.py"],
    "plan.py": ["test_sample_weight.py", "test_training.py", "test_products.py", "test_lr_scale.py",
                "test_protocol.py"],
    "callbacks.py": ["test_callbacks.py", "test_metrics.py", "test_checkpoint.py"],
    "schedules.py": ["test_schedules.py", "test_optimizers.py"],
    "checkpoint.py": ["test_checkpoint.py", "test_metrics.py"],
    "averaging.py": ["test_averaging.py", "test_callbacks.py"],
    "interrupt.py": ["test_interrupt.py"],
    "training.py": ["test_sample_weight.py", "test_training.py", "test_reliability.py", "test_products.py",
                    "test_metrics.py", "test_memory.py", "test_interrupt.py"],
    "io.py": ["test_io.py", "test_safety.py"],
    "reference.py": ["test_reference.py", "test_tutorial.py"],
    "tutorial.py": ["test_tutorial.py", "test_reference.py"],
    "model.py": ["test_sample_weight.py", "test_model.py", "test_checks.py", "test_decay_mask.py",
                 "test_freeze.py", "test_checkpoint.py", "test_averaging.py", "test_reliability.py",
                 "test_protocol.py", "test_copies.py", "test_safety.py", "test_memory.py",
                 "test_io.py", "test_optimizers.py"],
    "loading.py": ["test_io.py", "test_saved_files.py", "test_checkpoint.py", "test_optimizers.py",
                   "test_averaging.py", "test_freeze.py", "test_schedules.py", "test_protocol.py",
                   "test_batchnorm.py"],
    # the edges (``--files``): their own tests and doctests, which the core's run leaves out
    "gradcheck.py": ["test_gradcheck.py", "test_sparse.py", "test_protocol.py", "densenet/gradcheck.py"],
    "sklearn.py": ["test_sklearn.py", "densenet/sklearn.py", "test_examples.py", "test_memory.py"],
    "onnx.py": ["test_onnx.py", "densenet/onnx.py"],
    "datasets.py": ["test_datasets.py", "densenet/datasets.py", "test_examples.py"],
    "plot.py": ["test_plot.py", "densenet/plot.py"],
    "lr_find.py": ["test_lr_find.py", "densenet/lr_find.py", "test_plot.py", "./README.md"],
    "update_bn.py": ["test_update_bn.py", "densenet/update_bn.py", "./README.md", "test_safety.py",
                     "test_memory.py"],
}


def own_tests(file: str) -> list[str]:
    """The paths, from the repository's root, of ``file``'s own tests (``OWN_TESTS``: a bare
    name is in ``tests/``)."""
    return [name if "/" in name else f"tests/{name}" for name in OWN_TESTS.get(file, [])]


#: Mutants no test can tell from the original: "file:line:column:operator" -> why.
EQUIVALENT: dict[str, str] = {
    "sklearn.py:512:36:change-number": "the stopping rule's count before any epoch: the first epoch always "
                                       "improves on the best loss (inf) or score (-inf) and sets it to 0 "
                                       "before it is read (a NaN loss ends the fit first)",
    "layernorm.py:132:91:change-number": "the exported first LayerNorm scales each row by 2**-k, eps by "
                                         "4**-k: any k that keeps the squares finite gives the same bits "
                                         "(powers of two scale exactly); log base 3 makes k 0.63 of log2's, "
                                         "whose rows stay below 2**378 (float64), 2**48 (float32)",
    "class_loss.py:81:46:change-number": "label_weights_in leaves the weights unscaled when their largest is "
                                         "0 (or, mutated, 1): scaling by a power of two is exact, so both "
                                         "give the same bits where the largest is that number",
    "metric.py:193:40:Gt->GtE": "mean_totals takes one column's scores as they are: their mean over one "
                                "column is the same number (a sum of one divided by 1)",
    "loading.py:80:55:change-number": "load makes the model from a fixed seed, then puts the file's "
                                      "parameters, state and generator in: a file that holds no generator "
                                      "(not PCG64) gets the same one on every load from any fixed seed",
    "model.py:1072:15:swap-bool": "evaluate's _measured returns at once where there are no metrics: "
                                  "whether an output is NaN is then never read, True or False",
    "model.py:950:88:change-number": "clone(dtype) makes its twin from any seed: the parameters, the state "
                                     "and the generator's state are copied over it next",
    "callbacks.py:439:52:swap-bool": "the progress bar's epoch text set with a redraw of its own: the bar's "
                                     "update(1) next draws it (within tqdm's interval, later): the same "
                                     "text, drawn once more",
    "gradcheck.py:187:8:drop-assignment": "the folded plan is checked last, on gradcheck's own copy of the "
                                          "model: nothing reads its parameters after (put back in case "
                                          "another check follows)",
    "plan.py:151:8:drop-assignment": "a step checks its loss's first value, then reads the value unchecked; "
                                     "without the assignment it checks every value: the same results, "
                                     "a call more a step",
    "model.py:1136:41:Lt->LtE": "Sequential's check of a block's dimensions calls count() only for a "
                                "dimension that is not an int >= 0; this one gives it 0 too, which it takes:"
                                " the same refusals",
    "model.py:1136:45:change-number": "Sequential's check of a block's dimensions calls count() only for a "
                                      "dimension that is not an int >= 0; this one gives it 0 too, which it "
                                      "takes: the same refusals",
    "model.py:1139:56:Lt->LtE": "Sequential's check of an input_width calls positive_int() only for one that"
                                " is not an int >= 1; this one gives it 1 too, which it takes: the same "
                                "refusals",
    "model.py:1139:64:change-number": "Sequential's check of an input_width calls positive_int() only for "
                                      "one that is not an int >= 1; this one gives it 1 too, which it takes:"
                                      " the same refusals",
    "model.py:1166:39:Lt->LtE": "Sequential's check of an output_width calls positive_int() only for one "
                                "that is not an int >= 1; this one gives it 1 too, which it takes and "
                                "returns: the same widths",
    "model.py:1166:45:change-number": "Sequential's check of an output_width calls positive_int() only for "
                                      "one that is not an int >= 1; this one gives it 1 too, which it takes "
                                      "and returns: the same widths",
    "backend.py:533:39:GtE->Gt": "shares of 0.5: both branches give (0.5, 0.5)",
    "batchnorm.py:234:22:change-number": "the row a training batch's mean is shifted by (X[1] for X[0]): "
                                         "any row of the batch (two at least) centres a feature of equal "
                                         "values to 0 exactly and gives its mean to rounding",
    "batchnorm.py:271:27:and->or": "a BatchNorm1d's backward computing its scale's and shift's gradients "
                                   "when frozen (into the plan's blocks, which nothing reads) or without "
                                   "them (into spare vectors): the same values, passes more",
    "r2.py:63:86:change-number": "R2's inner denominator stands in where the squares are 0, where the "
                                 "outer np.where takes the other branch: any non-zero number is the same",
    "elu.py:83:11:and->or": "an exponential unit keeping max(X, 0) apart at inference too (never read) "
                            "or computing its [X > 0] term for alpha = 1 (times 0): the same values, "
                            "passes more",
    "elu.py:101:62:swap-bool": "an exponential unit's [X > 0] from max(X, 0) taking the max again: the "
                               "same values, one pass more",
    "softplus.py:19:35:change-number": "Softplus's saturation at 40 instead of 20 in float32: "
                                       "log1p(exp(z)) still rounds to z there and exp(40) is finite: the "
                                       "same values to rounding",
    "softplus.py:19:63:change-number": "Softplus's saturation at 80 instead of 40 in float64: "
                                       "log1p(exp(z)) still rounds to z there and exp(80) is finite: the "
                                       "same values to rounding",
    "relu.py:46:65:swap-bool": "ReLU's [Y > 0] taking max(Y, 0) of its nonnegative output again: the same "
                               "values, one pass more",
    "elu.py:90:16:change-number": "ELU's passes multiply by a scale of 1 when the skip is mutated: the same "
                                  "values, one pass more",
    "elu.py:119:16:change-number": "ELU's export multiplies by a scale of 1 when the skip is mutated: the "
                                   "same values, one node more",
    "checkpoint.py:214:51:change-number": "a checkpoint name's trial values need only be an int and floats: "
                                          "a format spec refuses another type, not another value",
    "checkpoint.py:214:66:change-number": "(the same trial values)",
    "clipping.py:70:11:GtE->Gt": "a gradient whose clipping coefficient is exactly 1 multiplied by 1: "
                                 "the same values",
    "normal.py:61:16:change-number": "the density bound 80 for 40: the density is 0 beyond 38.6 either way, "
                                     "and no finite x**2 overflows below 1e154 (float64) or 1.8e19 (float32)",
    "backend.py:333:19:change-number": "sparse_gradient's out *= beta where beta is 1 changes nothing: the "
                                       "test only spares that pass",
    "model.py:722:18:swap-bool": "predict's key for its lent plans only has to differ from forward's "
                                 "four-item keys, which a three-item key does whatever its items",
    "model.py:672:18:swap-bool": "forward's key for its lent plans only has to differ from predict's "
                                 "three-item keys, which a four-item key does whatever its items",
    "dropout.py:85:24:change-number": "with p = 1 no element is kept: the mask is 0 times the scale, "
                                      "whatever the scale (0 only keeps 1 / 0 out of it)",
    "alpha_dropout.py:57:12:change-number": "with p = 1 no element is kept: the mask and the shift are 0 "
                                            "whatever a (0 only keeps 1 / 0 out of it)",
    "model.py:724:61:swap-bool": "a prediction's plan built with dL/dX as well computes the same outputs: it "
                                 "only allocates a dX array and plans calls that predict never runs",
    "model.py:806:75:swap-bool": "the huge-input path's plan for the modules after the first, built with "
                                 "dL/dX as well, computes the same outputs (its dX calls never run)",
    "training.py:985:18:Gt->GtE": "with one chunk the summing path multiplies that chunk's gradient by its "
                                  "share and then by 1 / share: the plain path's gradient to an ulp (two "
                                  "passes more), which no test of the objective's tolerance can tell",
    "callbacks.py:398:49:change-number": "Progress.__init__'s running sum is set again by on_train_begin "
                                         "before anything reads it",
    "callbacks.py:398:54:change-number": "Progress.__init__'s batch count is set again by on_train_begin "
                                         "before anything reads it",
    "callbacks.py:398:46:change-number": "Progress.__init__'s epoch is set again by on_train_begin "
                                         "before anything reads it",
    "model.py:202:50:change-number": "a model without parameters counts its largest product as n * 1, "
                                     "not 0: under 2**18 at every batch predict runs, no limit either way",
    "training.py:982:58:swap-bool": "the full-batch objective's chunks with shuffle on: nothing permutes "
                                    "their order array, so the same rows in the same order",
    "backend.py:457:7:LtE->Lt": "at exactly BLAS_SMALL elements the squared sum takes the sliced path "
                                "with one slice: the same dot call, plus 0",
    "loss.py:390:21:change-number": "row_means skips multiplying by a factor of 2.0, not 1.0: the factor "
                                    "is never 2, and multiplying by 1.0 changes no bit",
    "loss.py:385:40:change-number": "reshape(n, -2): NumPy takes any negative size as the one to infer",
    "loss.py:366:23:change-number": "relative scales weights of a mean below the smallest normal number by "
                                    "a power of two: any other (2**1001) keeps their ratios exactly too",
    "loss.py:375:7:Lt->LtE": "relative: weights whose mean is exactly the smallest normal number, scaled "
                             "by a power of two, keep their ratios exactly",
    "loss.py:378:47:swap-bool": "relative's astype copies the quotient, a new array already, once more: the "
                                "same values",
    "loss.py:249:71:Is->IsNot": "the kept plans' key says 'unweighted' with the opposite bool: weighted and "
                                "unweighted plans are still kept apart",
    "loss.py:135:27:change-number": "reshape(-2, 1): NumPy takes any negative size as the one to infer",
    "nll.py:67:53:change-number": "reshape(-2): NumPy takes any negative size as the one to infer",
    "nll.py:69:50:change-number": "reshape(-2): NumPy takes any negative size as the one to infer",
    "cross_entropy.py:111:49:change-number": "reshape(-2): NumPy takes any negative size as the one to infer",
    "cross_entropy.py:111:67:change-number": "reshape(-2): NumPy takes any negative size as the one to infer",
    "backend.py:378:7:Lt->LtE": "at exactly EXP_SIGMOID_MIN_SIZE elements logistic takes expit instead of "
                                "the exp path: both are tested to a few ulp of the exact value",
    "backend.py:118:20:change-number": "BLAS's transpose flag 2 is the conjugate transpose, the transpose "
                                       "for real matrices: the flag 1 and 2 give the same product",
    "cblas.py:48:39:change-number": "CBLAS's 113 (TRANS + 1) is the conjugate transpose, the transpose "
                                    "for real matrices: the same product",
    "cblas.py:376:97:change-number": "a _Call's default beta is read only by calls with an output (gemm's "
                                     "and gemv's), and each of those passes its own",
    "cblas.py:405:12:drop-assignment": "the functions' results are never read: a void function taken to "
                                       "return a C int gives an int that is dropped",
    "cblas.py:326:8:drop-assignment": "the vector math's results are never read either: a void function "
                                      "taken to return a C int gives an int that is dropped",
    "chain.py:388:22:change-number": "at the first module with parameters the backward list is still empty "
                                     "(later modules are planned after it, earlier ones go to "
                                     "input_backward): backward[:1] = and backward[:0] = insert alike",
    "backend.py:487:7:LtE->Lt": "at exactly BLAS_SMALL elements abs_sum takes the sliced path with one "
                                "slice: the same asum call, plus 0",
    "backend.py:487:4:negate-condition": "abs_sum's one call and its slices give the same sum to rounding "
                                         "(one call on a large vector may use BLAS's threads); the fast "
                                         "path only spares the loop on small vectors",
    "chain.py:349:85:change-number": "in_place(size(widths[-2])): the same condition has just checked "
                                     "that the output width widths[-1] equals the input width widths[-2]",
    "model.py:54:16:change-number": "PREDICT_BATCH only sets how many rows predict computes at a time; "
                                    "rows are independent, so 4097 gives the same predictions",
    "model.py:58:15:change-number": "SPARSE_CHUNK only sets how many values predict makes dense at a "
                                    "time; rows are independent, so 3 ** 22 gives the same predictions",
    "model.py:58:20:change-number": "SPARSE_CHUNK only sets how many values predict makes dense at a "
                                    "time; rows are independent, so 2 ** 23 gives the same predictions",
    "model.py:61:13:change-number": "KEPT_PLANS only bounds the plan cache (a fit needs two plans, the "
                                    "tests bound the cache by the name): 7 plans train the same",
    "model.py:64:13:change-number": "KEPT_STEPS only bounds the step cache (a fit needs two steps, the "
                                    "tests bound the cache by the name): 5 steps train the same",
    "backend.py:77:13:change-number": "BLAS_SMALL only sets where level-1 calls slice their vectors "
                                      "(8,193 elements: the same sums and updates, one slice boundary moved; "
                                      "the tests take the bound by the name)",
    "normal.py:53:41:change-number": "NORMAL_MIN_SIZE, a measured crossover: at 8,192 float64 elements ndtr "
                                     "instead of the passes, both within a few ulp (the tests take the bound "
                                     "by the name)",
    "normal.py:53:69:change-number": "NORMAL_MIN_SIZE, a measured crossover: at 2,048 float32 elements ndtr "
                                     "instead of the passes, both within a few ulp (the tests take the bound "
                                     "by the name)",
    "elementary.py:74:18:change-number": "PASSES_MIN_SIZE, a measured crossover: NumPy's expm1 and log1p "
                                         "instead of the passes at 1,025 elements, both within a few ulp "
                                         "(the tests take the bound by the name)",
    "thread_policy.py:61:28:change-number": "PARALLEL_MIN_PRODUCT, a measured performance threshold: 2**22 "
                                            "runs products of 2-4 Mi multiply-adds on one thread, the same "
                                            "results (the tests take the bound by the name)",
    "module.py:91:13:change-number": "a standalone module's KEPT_PLANS only bounds its plan cache (the "
                                     "tests bound it by the name): 5 plans compute the same",
    "io.py:215:25:change-number": "os.umask(0) only reads the umask (set, then put back at once): any "
                                  "value set in between reads the same",
    "io.py:163:12:drop-call": "np.savez's ZipFile flushes the file when it closes it, so the bytes are "
                              "written out before the fsync either way (tested with a spy on os.fsync); "
                              "the explicit flush does not lean on that",
    "thread_policy.py:333:14:change-number": "TRIAL_STEPS, a tuning constant: four timed steps on each count"
                                             " choose the same (the tests take the trial's length by the "
                                             "name)",
    "thread_policy.py:336:14:change-number": "TRIAL_EVERY, a tuning constant: a trial every 11 s instead of "
                                             "10 (the tests take the interval by the name)",
    "optimizer.py:93:14:change-number": "FLUSH_EVERY, a tuning constant: a flush every 65 steps instead "
                                        "of 64 (the tests take the interval by the name)",
    "subnormal.py:21:14:change-number": "FLUSH_SLICE only sets the slices a flush goes over its vectors in "
                                        "(the tests cross a slice's end by the name)",
    "thread_policy.py:373:8:drop-assignment": "ThreadChoice.__init__'s current count is set again by "
                                              "__enter__, before any step runs",
    "thread_policy.py:436:50:Lt->LtE": "SERIAL_BELOW (2**18) is below PARALLEL_MIN_PRODUCT (2**21), so the "
                                       "first comparison already refuses a plan of exactly SERIAL_BELOW "
                                       "multiply-adds; the second only switches the choice off with the "
                                       "policy (math.inf)",
    "_validation.py:261:36:swap-bool": "the bound of rows left in another dtype is never read: predict "
                                       "converts and checks them a batch at a time (cast_rows)",
    "_validation.py:263:36:LtE->Lt": "a sum of magnitudes exactly at the bound leaves it to the exact check "
                                     "(max and min), which gives the same answer",
    "_validation.py:287:29:LtE->Lt": "cast_rows: a sum of magnitudes exactly at the bound leaves it to the "
                                     "exact check (max and min), which gives the same answer",
    "backend.py:547:15:change-number": "all_finite's slices of rows: at least 2 rows instead of 1 changes "
                                       "only the size of the check's temporary (for rows over 4,096 values)",
    "backend.py:547:36:change-number": "all_finite's slices of rows: a width taken as at least 2 halves the "
                                       "slices of one-column arrays, the temporary's size alone",
    "chain.py:191:26:swap-bool": "the planner always sets negate_output: the default serves Buffers made "
                                 "by hand",
    "chain.py:198:21:swap-bool": "the planner always sets at_scale: the default serves Buffers made by "
                                 "hand, whose passes as at scale compute the same values to rounding",
    "chain.py:289:16:change-number": "AT_SCALE_SIZE need only exceed every size the planner and the modules "
                                     "choose by (2**18 multiply-adds at most): 3**31 does",
    "chain.py:289:21:change-number": "AT_SCALE_SIZE need only exceed every size the planner and the modules "
                                     "choose by (2**18 multiply-adds at most): 2**32 does",
    "chain.py:192:26:swap-bool": "the planner always sets negated_input: the default serves Buffers made "
                                 "by hand",
    "chain.py:370:87:change-number": "widths[i + 2] is the consumer's output width, equal to its input width "
                                     "for the elementwise module that takes a negated input (Sigmoid)",
    "plan.py:188:33:change-number": "module_shares never finding its last answer reads the vector again: "
                                    "the same shares, a pass over the vector more",
    "optimizer.py:170:68:and->or": "the per-parameter weight decays made without a mask or a decay too: a "
                                   "vector nothing reads (decays() answers the scalar then)",
    "optimizer.py:173:38:and->or": "shrink's per-parameter factors' source made without a mask or scale, or "
                                   "without a decay: a vector nothing reads (shrink takes its scalar path "
                                   "or returns first)",
    "optimizer.py:184:8:drop-assignment": "refill not noting the decay it wrote: the vectors are written "
                                          "again at every step (the same values, two passes more)",
    "optimizer.py:214:12:drop-assignment": "shrink's factors made again at every step rather than when the "
                                           "rate changes: the same values, three passes more",
    "optimizer.py:255:4:drop-call": "a setting not listed as kept in its '_' attribute: setting_values "
                                    "reads it through its property, the same value, more slowly",
    "optimizer.py:283:23:In->NotIn": "setting_values' attribute getter never chosen: it reads the settings "
                                     "through their properties, the same values, more slowly",
    "optimizer.py:726:0:drop-call": "Optimizer.lr not listed as kept in _lr: setting_values reads every "
                                    "setting through its property, the same values, more slowly",
    "optimizer.py:614:60:In->NotIn": "drop_unused_state's _names then differs from STATE whenever a "
                                     "vector was dropped, as it must, and otherwise too: state() looks at "
                                     "the vectors again at the next step, finds them right, only slower",
    "optimizer.py:249:34:change-number": "plans_version is only compared for a change: counting by 2 "
                                         "changes it as well",
    "optimizer.py:315:25:change-number": "plans_version is only compared for a change: starting at 1 "
                                         "changes nothing",
    "layernorm.py:217:35:drop-planned-call-1": "LayerNorm(1)'s dX of zeros at every backward pass: the "
                                               "planner makes it of zeros, and only an in-place module "
                                               "before it shares it, writing its own dX from it (0 times "
                                               "its derivative); written at every pass as Module's "
                                               "contract asks, whatever the planner shares",
    "optimizer.py:247:33:change-number": "settings_version is only compared for a change: counting by 2 "
                                         "changes it as well",
    "optimizer.py:311:28:change-number": "settings_version is only compared for a change: starting at 1 "
                                         "changes nothing",
    "optimizer.py:411:53:change-number": "params is never grads (checked[1]), so check_arrays checks the "
                                         "arrays at every step: the same arrays pass or are refused",
    "optimizer.py:414:16:drop-assignment": "the version not kept after a setting changed: check_shift asked "
                                           "again at every step, which its own memo answers the same",
    "optimizer.py:447:8:drop-assignment": "check_shift's memo never kept: the check runs at every call, and "
                                          "a pure check of dtype and shift passes or refuses the same",
    "optimizer.py:426:8:drop-assignment": "check_arrays not remembering the pair it passed checks the same "
                                          "arrays again at every step: the same arrays pass or are refused",
    "sgd.py:96:46:change-number": "params is never grads (pair[1]), so SGD prepares at every step: the same "
                                  "settings and work vectors (kept for the pair), only slower",
    "sigmoid.py:44:15:GtE->Gt": "at exactly EXP_SIGMOID_MIN_SIZE elements a sigmoid not told its input is "
                                "negated negates it itself: the same exp path, the same bits",
    "training.py:304:15:and->or": "only _train_steps asks, whose epochs have an optimiser: 'or' then plans "
                                  "the steps anew after every epoch and gets the same kept steps",
    "backend.py:453:22:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "backend.py:188:39:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "backend.py:189:83:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "backend.py:189:100:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "backend.py:188:53:change-number": "library_call's arrays have thousands of elements by then: a least "
                                       "byte count of 1 instead of 0 asks the same",
    "backend.py:260:34:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "backend.py:260:57:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "thread_policy.py:69:14:change-number": "how long one look at the machine's load is reused: a tuning "
                                            "constant, tested through its name",
    "callbacks.py:447:12:drop-call": "the next line drops the bar's last reference, and tqdm closes a bar "
                                     "when it is collected: the same output",
    "thread_policy.py:250:63:change-number": "cgroup files give two fields: reading the first three of them "
                                             "reads the same two",
    "backend.py:125:24:change-number": "the count of use_gemm_library's choices only has to change at each "
                                       "choice (the thread policy compares it with the one it last saw): "
                                       "counting from 1 changes the same",
    "backend.py:199:29:change-number": "the count of use_gemm_library's choices only has to change at each "
                                       "choice (the thread policy compares it with the one it last saw): "
                                       "counting by 2 changes the same",
    # the edges
    "datasets.py:89:31:Lt->LtE": "reached only when the sizes differ, so never with them equal",
    "datasets.py:147:93:change-number": "a download's timeout: 61 s instead of 60",
    "datasets.py:148:45:change-number": "a download's chunks of 2 MiB, not 1: any size writes the same file",
    "datasets.py:148:50:change-number": "a download's chunks of 2 MiB, not 1: any size writes the same file",
    "gradcheck.py:237:22:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "onnx.py:55:22:change-number": "node names counted from 1, not 0: as unique, the same graph",
    "onnx.py:64:23:change-number": "node names counted in twos: as unique, the same graph",
    "onnx.py:193:4:drop-call": "onnx's checker finds nothing to object to in the graphs export writes: "
                               "without it, the same graph",
    "onnx.py:193:47:swap-bool": "onnx's checker finds nothing to object to in the graphs export writes: "
                                "without its full check (shape inference), the same graph",
    "lr_find.py:97:56:Gt->GtE": "a smoothed loss exactly diverge times the lowest so far needs a coincidence "
                                "of rounding: no test can put a step on the boundary",
    "plot.py:19:44:change-number": "the new figure's size (7 x 4 inches): a style, not what is drawn",
    "plot.py:19:47:change-number": "the new figure's size (6 x 5 inches): a style, not what is drawn",
    "plot.py:28:24:change-number": "the grid's opacity (0.6): a style, not what is drawn",
    "plot.py:109:45:change-number": "the batch losses' opacity (0.6): a style, not what is drawn",
    "training.py:61:12:change-number": "the metrics' buffer's rows (KEPT_ROWS): a speed and memory choice; "
                                       "the metrics add the same rows in the same order at any size",
    "training.py:543:23:change-number": "(the same: at least two batches a buffer, not one)",
    "training.py:994:12:drop-assignment": "without the last point evaluated, a full-batch fit evaluates "
                                          "its iterate again for the metrics: the same values, one more call",
    "radam.py:65:11:LtE->Lt": "r_t equal to 5.0 exactly needs a coincidence of rounding (it is 1 at t = 1, "
                              "and 5 at t = 2 only for b2 = 1): no test can put a step on the boundary",
    "sklearn.py:333:101:change-number": "the network's seed drawn below 3**31, not 2**31: another seed, "
                                        "as reproducible",
    "sklearn.py:333:104:change-number": "the network's seed drawn below 2**32, not 2**31: another seed, "
                                        "as reproducible",
    "sklearn.py:353:76:change-number": "the validation split's seed drawn below 2**32, not 2**31: another "
                                       "seed, as reproducible",
    "sklearn.py:512:8:drop-assignment": "the stopping rule's count set before any fit: the first epoch it "
                                        "sees improves on a best loss of inf (or a score of -inf, or none "
                                        "watched), which sets the count before it is read",
    "sklearn.py:513:46:change-number": "the stopping rule's training rows when made: begin() sets them "
                                       "before every fit, and only a fit reads them",
    "sklearn.py:513:49:change-number": "the stopping rule's samples seen when made: begin() sets them to "
                                       "the estimator's t_ before every fit, and only a fit reads them",
    "sklearn.py:513:52:change-number": "the stopping rule's loss tolerance when made: begin() sets it "
                                       "before every fit, and only a fit reads it",
    "sklearn.py:517:8:drop-assignment": "the stopping rule's flag set when made: begin() sets it before "
                                        "every fit of a stochastic solver, and only those read it (an "
                                        "L-BFGS fit's warning reads LBFGS.result)",
    "sklearn.py:776:73:Gt->GtE": "a multilabel target is 0 or 1 (checked when fitted), never 0.5",
    "sklearn.py:889:34:change-number": "NumPy's reshape takes any negative size as the one it works out",
    "_validation.py:508:27:Gt->GtE": "only an int beyond float's range reaches as_float's sign test: never 0",
    "_validation.py:508:35:change-number": "only an int beyond float's range reaches as_float's sign test: "
                                           "never between 0 and 1 either",
    "training.py:892:23:change-number": "the factor fit's records grow by: another grows them at other "
                                        "epochs, to the same values",
    "training.py:833:14:change-number": "the epochs fit first makes room for in its records: another number "
                                        "grows them at other epochs, to the same values (the room's size is "
                                        "memory, which the test of 10**7 epochs bounds at 1 MiB)",
}

SECONDS = 300  # a mutant whose tests run longer than this is counted killed (a hang)


@dataclass
class Mutant:
    file: str
    line: int
    column: int
    operator: str
    index: int  # which mutable node of the file, in walk order
    status: str = "untested"
    seconds: float = 0.0
    failed: str = ""

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}:{self.column}:{self.operator}"


_SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_SWAP_UFUNC = {"add": "subtract", "subtract": "add", "multiply": "divide", "divide": "multiply",
               "maximum": "minimum", "minimum": "maximum"}
_SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}


def _skipped(tree: ast.Module) -> set[int]:
    """ids of the nodes never mutated: docstrings, annotations, raise statements
    (error messages), ``__repr__``, ``__all__``, ``TYPE_CHECKING`` blocks."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                all_of(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            all_of(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs,
                        node.args.vararg, node.args.kwarg]:
                if arg is not None:
                    all_of(arg.annotation)
            if node.name == "__repr__":
                all_of(node)
        if isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)):
            all_of(node)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            all_of(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            all_of(node)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("TypeError", "ValueError"):
            all_of(node)  # an error built to be raised or returned
    return skip


def _mutations(node: ast.AST) -> Iterator[str]:
    """The operators that apply to ``node``."""
    if isinstance(node, ast.BinOp) and type(node.op) in _SWAP_BIN:
        yield f"{type(node.op).__name__}->{_SWAP_BIN[type(node.op)].__name__}"
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAP_CMP:
        yield f"{type(node.ops[0]).__name__}->{_SWAP_CMP[type(node.ops[0])].__name__}"
    elif isinstance(node, ast.BoolOp):
        yield "and->or" if isinstance(node.op, ast.And) else "or->and"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop-not"
    elif isinstance(node, (ast.If, ast.While)):
        yield "negate-condition"
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        yield "swap-bool" if isinstance(node.value, bool) else "change-number"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "drop-call"
    elif isinstance(node, ast.AugAssign) or (isinstance(node, ast.Assign) and any(
            isinstance(target, (ast.Subscript, ast.Attribute)) for target in node.targets)):
        yield "drop-assignment"
    elif (isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "np"
          and node.attr in _SWAP_UFUNC):
        yield f"np.{node.attr}->np.{_SWAP_UFUNC[node.attr]}"
    elif isinstance(node, ast.List):
        for i, element in enumerate(node.elts):
            if isinstance(element, ast.Call) and getattr(element.func, "id", "") == "partial":
                yield f"drop-planned-call-{i}"


def _mutable(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    skip = _skipped(tree)
    return [(node, op) for node in ast.walk(tree) if id(node) not in skip for op in _mutations(node)]


def _apply(node: ast.AST, operator: str) -> ast.AST:
    """The mutated replacement for ``node``."""
    new = copy.deepcopy(node)
    if isinstance(new, ast.BinOp):
        new.op = _SWAP_BIN[type(new.op)]()
    elif isinstance(new, ast.Compare):
        new.ops = [_SWAP_CMP[type(new.ops[0])]()]
    elif isinstance(new, ast.BoolOp):
        new.op = ast.Or() if isinstance(new.op, ast.And) else ast.And()
    elif isinstance(new, ast.UnaryOp):
        return new.operand
    elif isinstance(new, (ast.If, ast.While)):
        new.test = ast.UnaryOp(op=ast.Not(), operand=new.test)
    elif isinstance(new, ast.Attribute):
        new.attr = _SWAP_UFUNC[new.attr]
    elif isinstance(new, ast.List):
        del new.elts[int(operator.rsplit("-", 1)[1])]
    elif isinstance(new, ast.Constant):
        value = new.value
        new.value = (not value if isinstance(value, bool) else 1 if value == 0
                     else value + 1 if isinstance(value, int) else value * 2)
    else:  # a statement dropped
        return ast.Pass()
    return new


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST) -> None:
        self.target, self.replacement = target, replacement

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return ast.copy_location(self.replacement, node)
        return self.generic_visit(node)


def mutants_of(file: str, source: str) -> list[Mutant]:
    tree = ast.parse(source)
    return [Mutant(file, getattr(node, "lineno", 0), getattr(node, "col_offset", 0), op, i)
            for i, (node, op) in enumerate(_mutable(tree))]


#: Mutated nodes written without parentheses: atoms, whose meaning no neighbour changes.
_ATOMS = (ast.Constant, ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.List)


def mutated_source(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant``'s one change spliced into its text: the rest stays as
    written, comments (``# type: ignore``, which a type check reads) and line numbers with
    it. The result is checked to be the mutated syntax tree."""
    tree = ast.parse(source)
    node, op = _mutable(tree)[mutant.index]
    assert op == mutant.operator
    mutated = _apply(node, op)
    # the text replaced: an if's or while's condition alone, else the whole node
    old, new = (node.test, mutated.test) if isinstance(mutated, (ast.If, ast.While)) else (node, mutated)
    text = ast.unparse(new)
    lines = old.end_lineno - old.lineno  # type: ignore[operator]  # (parsed nodes have them)
    if isinstance(new, ast.stmt):
        text += "\n" * lines  # (blank lines: the statements below keep their line numbers)
    elif not isinstance(new, _ATOMS) or lines:
        text = "(" + text + "\n" * lines + ")"
    data = source.encode()
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    begin = starts[old.lineno - 1] + old.col_offset
    end = starts[old.end_lineno - 1] + old.end_col_offset  # type: ignore[index,operator]
    result = (data[:begin] + text.encode() + data[end:]).decode()
    if ast.dump(ast.parse(result)) != ast.dump(_Replace(node, mutated).visit(tree)):
        raise AssertionError(f"{mutant.key}: the spliced text is not the mutated tree")
    return result


def _pytest(workdir: Path, first: list[str], rest: list[str]) -> tuple[bool, str]:
    """Run the tests ``first``, then (if they pass) ``rest`` less ``first``, in ``workdir``:
    (passed, first failure). Two runs: in one, pytest would collect a directory in ``rest``
    in its own order, the files of ``first`` among the others."""
    if first:
        passed, failure = _run_pytest(workdir, first)
        if not passed or not rest:
            return passed, failure
    return _run_pytest(workdir, [*rest, *(f"--ignore={path}" for path in first if path.startswith("tests/"))])


def _run_pytest(workdir: Path, args: list[str]) -> tuple[bool, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    env = dict(os.environ, CI="true", PYTHONDONTWRITEBYTECODE="1")  # derandomised Hypothesis
    try:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=SECONDS)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode == 0, failed[0][:200] if failed else done.stdout[-200:]


def _run(mutant: Mutant, workdir: Path, original: str) -> Mutant:
    target = workdir / "densenet" / mutant.file
    target.write_text(mutated_source(original, mutant))
    start = time.perf_counter()
    try:
        # an edge is tested by its own tests alone: the core's (TESTS) never import it
        passed, mutant.failed = _pytest(workdir, own_tests(mutant.file), TESTS if mutant.file in CORE else [])
        mutant.status = "survived" if passed else "killed"
        mutant.failed = "" if passed else mutant.failed
    finally:
        target.write_text(original)
    mutant.seconds = time.perf_counter() - start
    if mutant.key in EQUIVALENT:
        mutant.status = "equivalent" if mutant.status == "survived" else mutant.status
    return mutant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", default=CORE)
    parser.add_argument("--sample", type=int, default=200, help="mutants drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None,
                        help="run the mutants whose key (file:line:column:operator) starts with one of these")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--out", type=Path, default=None, help="write every mutant's result as JSON")
    args = parser.parse_args(argv)

    sources = {name: (ROOT / "densenet" / name).read_text() for name in args.files}
    everything = [m for name, source in sources.items() for m in mutants_of(name, source)]
    if args.only is not None:
        everything = [m for m in everything if any(m.key.startswith(prefix) for prefix in args.only)]
    chosen = everything if not args.sample or args.only is not None else random.Random(args.seed).sample(
        everything, min(args.sample, len(everything)))
    chosen.sort(key=lambda m: (m.file, m.line, m.index))
    print(f"{len(everything)} mutants in {len(sources)} files; running {len(chosen)}", flush=True)
    if args.list:
        for m in chosen:
            print(m.key)
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        workdirs = []
        for j in range(args.jobs):
            workdir = Path(scratch) / f"work{j}"
            for part in ("densenet", "tests", "examples", "tools", ".ci"):
                shutil.copytree(ROOT / part, workdir / part, ignore=shutil.ignore_patterns("__pycache__"))
            for part in ("README.md", "pyproject.toml"):
                shutil.copy(ROOT / part, workdir / part)
            workdirs.append(workdir)
        # the unmutated copy must pass what the mutants will run, or nothing counts
        edges = [path for name in args.files if name not in CORE for path in own_tests(name)]
        passed, failure = _pytest(workdirs[0], edges, TESTS if set(args.files) & set(CORE) else [])
        if not passed:
            print(f"the tests fail without any mutant: {failure}", file=sys.stderr)
            return 2
        free = list(workdirs)

        def task(mutant: Mutant) -> Mutant:
            workdir = free.pop()
            try:
                return _run(mutant, workdir, sources[mutant.file])
            finally:
                free.append(workdir)

        with ThreadPoolExecutor(args.jobs) as pool:
            for i, m in enumerate(pool.map(task, chosen), 1):
                print(f"[{i}/{len(chosen)}] {m.status:10} {m.key} ({m.seconds:.0f} s) {m.failed}", flush=True)

    counts = {s: sum(m.status == s for m in chosen) for s in ("killed", "survived", "equivalent")}
    scored = len(chosen) - counts["equivalent"]
    timed_out = [m for m in chosen if m.status == "killed" and m.failed == "timeout"]
    print(f"\nkilled {counts['killed']} / {scored} non-equivalent mutants "
          f"({counts['killed'] / max(scored, 1):.1%}); {counts['equivalent']} equivalent")
    for m in chosen:
        if m.status != "killed":
            print(f"  {m.status:10} {m.key}" + (f"  ({EQUIVALENT[m.key]})" if m.key in EQUIVALENT else ""))
    if timed_out:  # a hang, or tests that pass but outran the limit on a busy machine
        print(f"{len(timed_out)} of the killed by the {SECONDS} s timeout: check each by hand (its tests may "
              "pass, only slowly)")
        for m in timed_out:
            print(f"  timeout    {m.key}")
    if args.out:
        args.out.write_text(json.dumps([asdict(m) for m in chosen], indent=1) + "\n")
    return 0 if counts["survived"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
