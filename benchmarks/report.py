"""A compact benchmark sweep in one process: tables of ratios and plots.

    python benchmarks/report.py [--quick | --smoke] [--out benchmarks/results]

Writes ``report.md`` (every figure a ratio measured side by side in this run:
min / median / max over repetitions), ``speedup_vs_width.png``,
``samples_per_second.png`` and ``big_step.png``, plus the BLAS library,
kernel and thread count it ran with. Absolute times are printed for context
only: on a shared machine they are noise, the ratios are the result.

Measuring: for each pair, both sides are warmed up, then each repetition times
a block of calls of one side, then a block of the other (median per block, a
block lasting at least 0.25 s), and takes the ratio. Where both sides use
multi-threaded BLAS or OpenMP, a pause before each block lets the other side's
idle worker threads stop spinning. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
reported, not changed: unset them in the command that runs this script if you
want OpenBLAS to pick its kernel.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads  # noqa: E402

import densenet as dn  # noqa: E402

Work = Callable[[], object]

#: Seconds of pause before timed blocks (see ``compare``); 0 in a smoke run.
PAUSE = 0.3


#: Each timed block runs for at least this long (and at least ``block`` calls),
#: so a fast side is a median over many calls, not one call caught by a neighbour's burst.
BUDGET = 0.25


def block_time(work: Work, calls: int) -> float:
    """The median time of one call of ``work`` over a block of calls."""
    times: list[float] = []
    begin = time.perf_counter()
    while len(times) < calls or time.perf_counter() - begin < BUDGET:
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(a: Work, b: Work, reps: int, block: int = 3, pause: float = 0.0) -> dict[str, float]:
    """time(a) / time(b), side by side: min, median, max over ``reps`` repetitions.

    ``pause`` seconds before each block let the other side's worker threads
    (OpenBLAS, OpenMP) stop spinning, so neither side is timed against them.
    """
    a(), b()
    ratios, ta, tb = [], [], []
    for _ in range(reps):
        time.sleep(pause)
        ta.append(block_time(a, block))
        time.sleep(pause)
        tb.append(block_time(b, block))
        ratios.append(ta[-1] / tb[-1])
    return {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios),
            "a_s": statistics.median(ta), "b_s": statistics.median(tb)}


def fmt(r: dict[str, float], digits: int = 2) -> str:
    return f"{r['median']:.{digits}f} ({r['min']:.{digits}f}-{r['max']:.{digits}f})"


def seconds(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} us"


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.data: dict[str, object] = {}

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        for line in lines:
            print(line, flush=True)

    def table(self, head: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(head) + " |", "|" + "---|" * len(head))
        for row in rows:
            self.add("| " + " | ".join(row) + " |")
        self.add("")


def tutorial(rep: Report, reps: int, epochs: int = 1000) -> None:
    densenet, scalar = workloads.tutorial_training(seed=0, epochs=epochs)
    r = compare(densenet, scalar, reps)
    rep.data["P1"] = r
    rep.add("## Tutorial training (P1)", "",
            f"2-2-1 sigmoid, SGD lr 0.1, batch size 1, {epochs} epochs, the MSE over all four "
            "samples recorded every 10 epochs on both sides: densenet `fit` vs "
            "`reference.ScalarNetwork.train` (the tutorial's scalar code style).", "")
    rows = [["densenet / scalar (P1, target <= 1.0)", fmt(r),
             f"{seconds(r['a_s'])} vs {seconds(r['b_s'])}"]]
    try:
        torch_train = workloads.torch_tutorial(seed=0, epochs=epochs)
        t = compare(torch_train, densenet, min(reps, 3), block=1, pause=PAUSE)
        rows.append(["PyTorch / densenet, same training", fmt(t, 1),
                     f"{seconds(t['a_s'])} vs {seconds(t['b_s'])}"])
        rep.data["tutorial_torch"] = t
    except ImportError:
        rows.append(["PyTorch / densenet", "torch not installed", ""])
    rep.table(["ratio", "median (min-max)", "median times"], rows)


def width(rep: Report, reps: int, widths: list[int]) -> None:
    rep.add("## Width: 2-h-1, densenet vs the scalar MLP", "",
            "Batch-1 SGD over 256 samples (per step) and one full-batch step on 1024 samples "
            "(one epoch); speedup = scalar time / densenet time (`reference.ScalarMLP`: Python "
            "floats and `math.exp`, the fastest honest scalar version).", "")
    rows, step_speedups, step_mins, epoch_speedups, step_times = [], [], [], [], []
    for h in widths:
        d1, s1, steps = workloads.mlp_epoch((2, h, 1), n=256, batch_size=1)
        r1 = compare(s1, d1, reps, block=1)
        dF, sF, _ = workloads.mlp_epoch((2, h, 1), n=1024, batch_size=1024)
        rF = compare(sF, dF, reps, block=1)
        step_speedups.append(r1["median"])
        step_mins.append(r1["min"])
        epoch_speedups.append(rF["median"])
        step_times.append(r1["b_s"] / steps)
        rows.append([f"2-{h}-1", fmt(r1, 1), seconds(r1["b_s"] / steps), fmt(rF, 0)])
    rep.table(["network", "batch-1 step speedup", "densenet step", "full-batch epoch speedup"], rows)
    crossover = next((h for h, m in zip(widths, step_mins) if m > 1), None)
    flat = max(h for h, t in zip(widths, step_times) if t <= 1.25 * step_times[0])
    rep.add(f"Crossover: at batch size 1 the 2-{widths[0]}-1 network runs at "
            f"{step_speedups[0]:.2f}x the scalar MLP's speed; from width {crossover} on densenet is "
            f"faster in every repetition. Its step time stays within 25% of the "
            f"2-{widths[0]}-1 step up to width {flat}: there it pays only for its NumPy calls, "
            f"while the scalar version pays for every weight. Full-batch, densenet is ahead at "
            f"every width.", "")
    rep.data["width"] = {"widths": widths, "step_speedup": step_speedups,
                         "epoch_speedup": epoch_speedups, "crossover": crossover, "flat_up_to": flat}


def p2(rep: Report, reps: int, samples: int = 1024) -> None:
    sizes = (2, 64, 64, 1)
    d1, s1, steps = workloads.mlp_epoch(sizes, n=256, batch_size=1)
    r1 = compare(s1, d1, reps, block=1)
    dF, sF, _ = workloads.mlp_epoch(sizes, n=samples, batch_size=samples)
    rF = compare(sF, dF, reps, block=1)
    rep.data["P2"], rep.data["P2b"] = r1, rF
    rep.add("## 2-64-64-1 (P2, P2b)", "")
    rep.table(["work", "scalar / densenet", "target", "median times"], [
        ["batch-1 SGD step (P2)", fmt(r1, 0), ">= 50",
         f"{seconds(r1['a_s'] / steps)} vs {seconds(r1['b_s'] / steps)} per step"],
        [f"full-batch epoch, {samples} samples (P2b)", fmt(rF, 0), ">= 1000",
         f"{seconds(rF['a_s'])} vs {seconds(rF['b_s'])}"],
    ])


def depth(rep: Report, reps: int) -> None:
    rep.add("## Depth: 2-32-...-32-1, batch size 1", "")
    rows = []
    for d in (1, 2, 4, 8):
        sizes = (2,) + (32,) * d + (1,)
        dn_, sc, steps = workloads.mlp_epoch(sizes, n=32, batch_size=1)
        r = compare(sc, dn_, reps, block=1)
        rows.append([f"{d}", fmt(r, 0), seconds(r["b_s"] / steps)])
    rep.table(["hidden layers", "scalar / densenet", "densenet step"], rows)


def batch(rep: Report, reps: int) -> tuple[list[int], list[float]]:
    rep.add("## Batch size: 2-64-64-1, one epoch over 1024 samples", "")
    sizes, rates, rows = [1, 4, 16, 64, 256, 1024], [], []
    for b in sizes:
        work = workloads.densenet_epoch((2, 64, 64, 1), n=1024, batch_size=b)
        work()
        t = statistics.median(block_time(work, 3) for _ in range(reps))
        rates.append(1024 / t)
        rows.append([str(b), f"{1024 / t:,.0f}", f"{rates[-1] / rates[0]:.0f}x"])
    rep.table(["batch size", "samples / s", "vs batch size 1"], rows)
    rep.data["batch"] = {"sizes": sizes, "samples_per_s": rates}
    return sizes, rates


def batch_one(rep: Report, reps: int, smoke: bool = False) -> None:
    rep.add("## Batch size 1 on big layers", "",
            "One epoch over 64 rows at batch size 1 (`workloads.BATCH_ONE_FITS`), where a step's weight "
            "gradients are outer products (BLAS's rank-1 update), densenet over PyTorch (same thread count).",
            "")
    torch = torch_on_blas_threads()
    rows, data = [], {}
    for name in list(workloads.BATCH_ONE_FITS)[1:] if smoke else workloads.BATCH_ONE_FITS:
        row = [name]
        for dtype in (np.float64, np.float32):
            ours, theirs = workloads.batch_one_fit(name, dtype)
            ours()
            if torch is None:
                row.append("torch not installed")
                continue
            theirs()
            r = compare(ours, theirs, reps, block=1, pause=PAUSE)
            row.append(f"{fmt(r)}: {seconds(r['a_s'])} vs {seconds(r['b_s'])}")
            data[f"{name}_{np.dtype(dtype).name}"] = r
        rows.append(row)
    rep.data["batch_one"] = data
    rep.table(["network", "float64: densenet / PyTorch", "float32: densenet / PyTorch"], rows)


def big(rep: Report, reps: int, sizes: tuple[int, ...] = workloads.BIG) -> None:
    rep.add(f"## Big layers: {'-'.join(map(str, sizes))} sigmoid, batch size 256 (P3, P4)", "",
            "One SGD step as `fit` runs it (planned forward, loss, backward, in-place update), and written "
            "by hand (`forward`, the loss, `backward`, `SGD.step`), "
            "vs only that step's eight matrix products on preallocated arrays (the BLAS floor), "
            "and vs PyTorch's step on the same network with the same thread count.", "")
    rows = []
    rep.data["big_network"] = "-".join(map(str, sizes))
    threads = next((i.get("num_threads") for i in workloads.blas_info() if "num_threads" in i), None)
    for dtype in (np.float64, np.float32):
        step, floor = workloads.big_step(dtype, sizes=sizes)
        r3 = compare(step, floor, reps, block=5, pause=PAUSE)
        name = np.dtype(dtype).name
        hand = workloads.hand_step(dtype, sizes=sizes)
        r3h = compare(hand, floor, reps, block=5, pause=PAUSE)
        rep.data[f"P3_{name}"], rep.data[f"P3h_{name}"] = r3, r3h
        row = [name, fmt(r3), fmt(r3h), seconds(r3["a_s"]), seconds(r3["b_s"])]
        try:
            import torch

            if threads:
                torch.set_num_threads(int(threads))
            torch_step = workloads.torch_step(dtype, sizes=sizes)
            r4 = compare(step, torch_step, reps, block=5, pause=PAUSE)
            r4h = compare(hand, torch_step, reps, block=5, pause=PAUSE)
            products = compare(floor, workloads.torch_floor(dtype, sizes=sizes), reps, block=5, pause=PAUSE)
            rep.data[f"P4_{name}"], rep.data[f"P4h_{name}"] = r4, r4h
            rep.data[f"floor_vs_torch_{name}"] = products
            row += [fmt(r4), fmt(r4h), seconds(r4["b_s"]), fmt(products)]
        except ImportError:
            row += ["torch not installed", "", "", ""]
        rows.append(row)
    rep.table(["dtype", "fit's step / floor (P3, <= 1.10)", "by hand / floor (P3h, <= 1.15)", "step", "floor",
               "densenet / PyTorch (P4, <= 1.0)", "by hand / PyTorch (P4)", "PyTorch step",
               "floor / PyTorch's products"], rows)
    rep.add("", "The last column times the floor's eight products against the same products by "
            "`torch.mm` (PyTorch's BLAS: " + workloads.torch_blas() + "): where it is above 1, "
            "PyTorch's step has a faster BLAS under it, and P4 is that ratio times P3 over "
            "PyTorch's own step / products.", "")


def ratios(a: list[float], b: list[float]) -> dict[str, float]:
    """``a[i] / b[i]`` over the repetitions: median, min and max."""
    r = [x / y for x, y in zip(a, b)]
    return {"min": min(r), "median": statistics.median(r), "max": max(r)}


def medians_in_child(kinds: list[str], dtype: str, sizes: tuple[int, ...], library: str | None,
                     rounds: int) -> list[float]:
    """``workloads.median_time`` of each of ``kinds`` in turn (each after a pause of
    ``PAUSE``), in a new Python process whose ``DENSENET_BLAS`` is ``library`` (None: unset),
    so that each library's threads are alone in their process."""
    from densenet.cblas import ENV

    env = {name: value for name, value in os.environ.items() if name != ENV}
    if library is not None:
        env[ENV] = library
    code = (f"import sys, time, json; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            "import workloads; times = []\n"
            f"for kind in {list(kinds)!r}:\n"
            f"    time.sleep({PAUSE!r})\n"
            f"    times.append(workloads.median_time(kind, {dtype!r}, {tuple(sizes)!r}, {rounds}))\n"
            "print(json.dumps(times))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return [float(t) for t in json.loads(done.stdout.strip().splitlines()[-1])]


def other_blas(rep: Report, reps: int, sizes: tuple[int, ...] = workloads.BIG, rounds: int = 7,
               dtypes: tuple[str, ...] = ("float64", "float32")) -> None:
    """P3, P3h and P4 with the large products on MKL (``DENSENET_BLAS=mkl``), and the Adam,
    GELU and SELU blocks' steps (the update's passes, GELU's ``Phi`` and ``exp``, SELU's ``expm1``
    and ``exp`` on MKL's vector math), each
    library's sides timed one after another in a process of its own (densenet on MKL, on
    OpenBLAS, PyTorch), the three processes taking turns within each repetition."""
    from densenet.cblas import ENV, locate

    rep.add(f"## The large products on MKL (`{ENV}=mkl`), {'-'.join(map(str, sizes))} batch 256", "",
            "The big section's step (`fit`'s and by hand) with its products through MKL's `gemm` "
            "(`densenet/cblas.py`), against the same step on SciPy's OpenBLAS, against its own products "
            "through MKL (`backend.product`'s calls), and against PyTorch's step; then the blocks "
            "section's Adam, GELU and SELU steps (whose update's passes, whose `Phi` and whose `exp` and "
            "`expm1` run on MKL's vector math, `densenet/vector_ops.py`, `densenet/normal.py`, "
            "`backend.library_call`) on MKL against the same on OpenBLAS "
            "and against PyTorch's same step; each figure is the "
            f"median of {rounds} rounds of 5 steps, each library's figures timed one after another in a "
            "process of its own (densenet on MKL, on OpenBLAS, PyTorch: one library's threads to a "
            "process), the three processes of a repetition run in turn.", "")
    try:
        locate("mkl")
    except OSError:
        rep.add("MKL is not installed here (`pip install -e '.[mkl]'`): not measured.", "")
        return
    if os.environ.get(ENV):
        rep.add(f"(This report runs with `{ENV}={os.environ[ENV]}`: the other sections' products are "
                "on that library too.)", "")
    sides: list[tuple[str, str | None]] = [("step", "mkl"), ("step", None), ("hand", "mkl"), ("hand", None),
                                           ("floor", "mkl"), ("adam", "mkl"), ("adam", None), ("gelu", "mkl"),
                                           ("gelu", None), ("selu", "mkl"), ("selu", None)]
    try:
        import torch  # noqa: F401

        sides += [("torch", None), ("torch_adam", None), ("torch_gelu", None),
                  ("torch_selu", None)]  # (None: DENSENET_BLAS unset)
    except ImportError:
        pass
    pairs = {"mkl_vs_openblas": (("step", "mkl"), ("step", None)),
             "hand_mkl_vs_openblas": (("hand", "mkl"), ("hand", None)),
             "P3": (("step", "mkl"), ("floor", "mkl")), "P3h": (("hand", "mkl"), ("floor", "mkl")),
             "P4": (("step", "mkl"), ("torch", None)), "P4h": (("hand", "mkl"), ("torch", None)),
             "adam_mkl_vs_openblas": (("adam", "mkl"), ("adam", None)),
             "adam_vs_torch": (("adam", "mkl"), ("torch_adam", None)),
             "gelu_mkl_vs_openblas": (("gelu", "mkl"), ("gelu", None)),
             "gelu_vs_torch": (("gelu", "mkl"), ("torch_gelu", None)),
             "selu_mkl_vs_openblas": (("selu", "mkl"), ("selu", None)),
             "selu_vs_torch": (("selu", "mkl"), ("torch_selu", None))}
    groups: dict[tuple[str | None, bool], list[str]] = {}  # (library, PyTorch's) -> the kinds timed there
    for kind, library in sides:
        groups.setdefault((library, kind.startswith("torch")), []).append(kind)
    rows = []
    for dtype in dtypes:
        times: dict[tuple[str, str | None], list[float]] = {side: [] for side in sides}
        for _ in range(reps):
            for (library, _), kinds in groups.items():
                for kind, seconds in zip(kinds, medians_in_child(kinds, dtype, sizes, library, rounds)):
                    times[kind, library].append(seconds)
        data = {key: ratios(times[a], times[b]) for key, (a, b) in pairs.items() if a in times and b in times}
        rep.data[f"mkl_{dtype}"] = data
        rows.append([dtype] + [fmt(data[key]) if key in data else "torch not installed" for key in pairs])
    rep.table(["dtype", "step on MKL / on OpenBLAS", "by hand, the same", "step / its products on MKL (P3)",
               "by hand / the same (P3h)", "step / PyTorch's (P4)", "by hand / PyTorch's (P4)",
               "Adam's step on MKL / on OpenBLAS", "Adam's step on MKL / PyTorch's",
               "GELU's step on MKL / on OpenBLAS", "GELU's step on MKL / PyTorch's",
               "SELU's step on MKL / on OpenBLAS", "SELU's step on MKL / PyTorch's"], rows)


def torch_on_blas_threads() -> Any:
    """PyTorch, set to as many threads as NumPy's BLAS runs; None if it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    threads = next((i.get("num_threads") for i in workloads.blas_info() if "num_threads" in i), None)
    if threads:
        torch.set_num_threads(int(threads))
    return torch


def blocks(rep: Report, reps: int, batch_size: int = 256, sizes: tuple[int, ...] = workloads.BIG) -> None:
    rep.add(f"## Blocks: one activation, loss or optimiser at a time ({'-'.join(map(str, sizes))}, "
            f"batch {batch_size})",
            "",
            "The big step with one block swapped into the tutorial's recipe (sigmoid, MSE, SGD): its time "
            "over the step's eight matrix products, and over PyTorch's same step (same thread count). "
            "`sample_weight` is the recipe with each sample's loss weighted, as `fit(sample_weight=...)` "
            "runs it.", "")
    torch = torch_on_blas_threads()
    rows, data = [], {}
    floors = {dtype: workloads.big_step(dtype, batch_size, sizes)[1] for dtype in (np.float64, np.float32)}
    for name in workloads.BLOCKS:
        row = [name]
        for dtype, floor in floors.items():
            step = workloads.block_step(name, dtype, batch_size, sizes)
            r = compare(step, floor, reps, block=5, pause=PAUSE)
            row.append(fmt(r))
            entry = {"floor": r}
            if torch is not None:
                t = compare(step, workloads.torch_block_step(name, dtype, batch_size, sizes), reps, block=5,
                            pause=PAUSE)
                row.append(fmt(t))
                entry["torch"] = t
            else:
                row.append("torch not installed")
            data[f"{name}_{np.dtype(dtype).name}"] = entry
        rows.append(row)
    rep.data["blocks"] = data
    rep.table(["block", "float64: step / products", "float64: densenet / PyTorch",
               "float32: step / products", "float32: densenet / PyTorch"], rows)


def mnist_shape(rep: Report, reps: int) -> None:
    densenet, classic, pytorch = workloads.mnist_shape_epoch()
    rep.add("## MNIST-shaped epoch: 784-30-10, batch size 10, float64 (P7)", "",
            "One epoch of sigmoid/MSE/SGD over 1,000 random rows of MNIST's shape: densenet `fit` vs the "
            "classic per-sample loop (`workloads.PerSampleMLP`: vectorised over neurons, looping over the "
            "samples of each mini-batch; it ends on densenet's parameters to rounding) and PyTorch.", "")
    r7 = compare(classic, densenet, reps, block=1)
    rep.data["P7"] = r7
    rows = [["classic per-sample loop / densenet (P7, >= 10)", fmt(r7, 1),
             f"{seconds(r7['a_s'])} vs {seconds(r7['b_s'])}"]]
    try:
        t = compare(pytorch, densenet, reps, block=1, pause=PAUSE)
        rep.data["mnist_shape_torch"] = t
        rows.append(["PyTorch / densenet", fmt(t, 1), f"{seconds(t['a_s'])} vs {seconds(t['b_s'])}"])
    except ImportError:
        rows.append(["PyTorch / densenet", "torch not installed", ""])
    rep.table(["comparison", "ratio", "times"], rows)


def sparse_data(rep: Report, reps: int, n: int = 1024) -> None:
    words, hidden, classes = workloads.BAG_OF_WORDS
    rep.add("## Sparse rows: a bag of words", "",
            f"One epoch of {words}-{hidden}-{classes} ReLU/softmax cross-entropy/plain SGD over {n:,} "
            "rows of 50 word counts (`workloads.bag_of_words`, SciPy CSR): densenet on the sparse rows "
            "(a first `Dense` multiplies them as they are) vs the same rows dense, and vs scikit-learn's "
            "MLPClassifier on the sparse rows (`partial_fit`, one epoch).", "")
    rows = []
    for batch_size in (32, 256):
        works = workloads.sparse_epochs(batch_size, n)
        ours = works["densenet-sparse"]
        for other, label in (("densenet-dense", "densenet on the rows dense"),
                             ("sklearn-sparse", "scikit-learn MLPClassifier")):
            try:
                r = compare(works[other], ours, reps, block=1)
            except ImportError:
                rows.append([str(batch_size), f"{label} / densenet on sparse rows", "not installed", ""])
                continue
            rep.data[f"sparse_{other}_{batch_size}"] = r
            rows.append([str(batch_size), f"{label} / densenet on sparse rows", fmt(r, 1),
                         f"{seconds(r['a_s'])} vs {seconds(r['b_s'])}"])
    rep.table(["batch size", "comparison", "ratio", "times"], rows)


def callbacks(rep: Report, reps: int, n: int = 4096) -> None:
    rep.add("## Callbacks: a checkpoint after each epoch, an average and a schedule after each batch", "",
            f"One epoch on {n:,} random rows (`workloads.callback_epochs`, ReLU, softmax cross-entropy): "
            "Adam with a `ModelCheckpoint` writing the model and Adam's moments (fsync'ed) over Adam alone; "
            "Adam with `WeightAveraging` (a moving average of the weights after every batch) over Adam "
            "alone; "
            "SGD (momentum 0.9) under `OneCycleLR`, which sets the rate and the momentum after every "
            "batch, over SGD alone.", "")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for shape, (sizes, batch_size) in workloads.CALLBACK_SIZES.items():
            works = workloads.callback_epochs(shape, folder, n)
            for timed, alone, label in (("adam+checkpoint", "adam", "checkpoint"),
                                        ("adam+averaging", "adam", "averaging"),
                                        ("sgd+one-cycle", "sgd", "one-cycle")):
                r = compare(works[timed], works[alone], reps, block=1)
                rep.data[f"callbacks_{label}_{shape}"] = r
                rows.append([f"{'-'.join(map(str, sizes))}, batch {batch_size}", f"{timed} / {alone}", fmt(r),
                             f"{seconds(r['a_s'])} vs {seconds(r['b_s'])}"])
    rep.table(["network", "epoch", "ratio", "times"], rows)


def metrics(rep: Report, reps: int, smoke: bool = False) -> None:
    rep.add("## Training metrics and decay masks: what they add to an epoch", "",
            "`fit(..., metrics=[...])` over the same fit without (`workloads.metric_epochs`: the tutorial's "
            "network on its four rows, 50 epochs a call; 784-30-10 at batch 10 on 2,000 random rows; a "
            "784-128-10 multilabel network at batch 256 on 16,384; float32 and Adam but the tutorial's); "
            "AdamW with `decay_mask=model.decay_mask()` over AdamW decaying every parameter "
            "(`workloads.decay_epochs`, 784-512-512-10 at batch 256, float32).", "")
    rows = []
    for fit, (sizes, batch_size, n, _) in workloads.METRIC_FITS.items():
        works = workloads.metric_epochs(fit, n=min(n, 256) if smoke else None)
        for side in works:
            if side == "none":
                continue
            r = compare(works[side], works["none"], reps, block=1)
            rep.data[f"metrics_{fit}_{side}"] = r
            rows.append([f"{'-'.join(map(str, sizes))}, batch {batch_size}", side, fmt(r),
                         f"{seconds(r['a_s'])} vs {seconds(r['b_s'])}"])
    works = workloads.decay_epochs(n=256 if smoke else 4096)
    r = compare(works["adamw+decay_mask"], works["adamw"], reps, block=1)
    rep.data["decay_mask"] = r
    rows.append(["784-512-512-10, batch 256", "AdamW decay_mask / every parameter", fmt(r),
                 f"{seconds(r['a_s'])} vs {seconds(r['b_s'])}"])
    rep.table(["network", "metrics / none", "ratio", "times"], rows)


def beside(step: Work, alone: Work | None, theirs: Callable[[], Work] | None, reps: int) -> dict[str, Any]:
    """``step`` over ``alone`` (the same step without what is measured; None: nothing to
    time) and over PyTorch's step ``theirs()`` (None: PyTorch is not installed), side by
    side (``beside_cells``: the table's two cells for them)."""
    entry: dict[str, Any] = {}
    if alone is not None:
        entry["none"] = compare(step, alone, reps, block=5, pause=PAUSE)
    if theirs is not None:
        entry["torch"] = compare(step, theirs(), reps, block=5, pause=PAUSE)
    return entry


def beside_cells(entry: dict[str, Any]) -> list[str]:
    """``beside``'s entry as two cells: over the step alone, over PyTorch's."""
    return [fmt(entry["none"]) if "none" in entry else "1",
            fmt(entry["torch"]) if "torch" in entry else "torch not installed"]


def freeze(rep: Report, reps: int, batch_size: int = 256, sizes: tuple[int, ...] = workloads.BIG) -> None:
    rep.add(f"## Frozen modules: a fine-tuning step ({'-'.join(map(str, sizes))} ReLU, batch {batch_size}, "
            "Adam)", "",
            "One training step with the first or the first two Dense layers frozen (`model.freeze`; "
            "`workloads.freeze_step`) over the same step training every layer, and over PyTorch's step "
            "with those layers' parameters `requires_grad_(False)` (same thread count).", "")
    torch = torch_on_blas_threads()
    rows, data = [], {}
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        whole = workloads.freeze_step("none", dtype, batch_size, sizes)
        for side in workloads.FREEZE_SIDES:
            step = workloads.freeze_step(side, dtype, batch_size, sizes)
            theirs = partial(workloads.torch_freeze_step, side, dtype, batch_size, sizes)
            alone = None if side == "none" else whole
            entry = beside(step, alone, theirs if torch is not None else None, reps)
            data[f"{side}_{name}"] = entry
            rows.append([name, side, *beside_cells(entry)])
    rep.data["freeze"] = data
    rep.table(["dtype", "frozen", "step / every layer trained", "densenet / PyTorch"], rows)


def lr_scale(rep: Report, reps: int, batch_size: int = 256, sizes: tuple[int, ...] = workloads.BIG) -> None:
    rep.add(f"## Per-parameter learning rates: a step with an lr_scale ({'-'.join(map(str, sizes))} ReLU, "
            f"batch {batch_size})", "",
            f"One training step with the first two Dense layers at {workloads.BODY_SCALE} of the learning "
            "rate (`lr_scale=model.lr_scales(...)`; `workloads.lr_scale_step`) over the same step without "
            "one, and over PyTorch's step with a parameter group per layer (same thread count).", "")
    torch = torch_on_blas_threads()
    rows, data = [], {}
    for dtype in (np.float32, np.float64):
        dtype_name = np.dtype(dtype).name
        for name in workloads.LR_SCALE_OPTIMIZERS:
            scaled = workloads.lr_scale_step(name, True, dtype, batch_size, sizes)
            plain = workloads.lr_scale_step(name, False, dtype, batch_size, sizes)
            theirs = partial(workloads.torch_lr_scale_step, name, dtype, batch_size, sizes)
            entry = beside(scaled, plain, theirs if torch is not None else None, reps)
            data[f"{name}_{dtype_name}"] = entry
            rows.append([dtype_name, name, *beside_cells(entry)])
    rep.data["lr_scale"] = data
    rep.table(["dtype", "optimiser", "scaled step / unscaled", "densenet / PyTorch's groups"], rows)


def load(rep: Report, reps: int, busy_seconds: float = 300.0, steps: int | None = None) -> None:
    """P6: each fit idle, then beside two busy processes (started here, always stopped);
    ``steps``: that many batches of each fit instead of a whole epoch."""
    from densenet import thread_policy

    rep.add("## Under load: two busy processes beside the fit (P6)", "",
            "One epoch of each fit (`workloads.LOAD_FITS`), timed idle and then with two busy-loop processes "
            "started by this report (2 cores here); per repetition, the loaded time over the idle time. "
            "'Without the policy' runs densenet with every plan on BLAS's own thread count "
            "(the thread policy switched off), as before it existed.", "")
    torch = torch_on_blas_threads()
    fits = {name: workloads.load_fit(name, steps=steps) for name in workloads.LOAD_FITS}
    sides = ["densenet", "pytorch", "no policy"] if torch is not None else ["densenet", "no policy"]

    def times() -> dict[str, dict[str, list[float]]]:
        out: dict[str, dict[str, list[float]]] = {}
        for name, (densenet, pytorch) in fits.items():
            work = {"densenet": densenet, "pytorch": pytorch, "no policy": densenet}
            out[name] = {side: [] for side in sides}
            for side in sides:
                work[side]()  # warm
            for _ in range(reps):
                for side in sides:
                    time.sleep(PAUSE)
                    if side == "no policy":  # no limit set for any plan: BLAS's own count
                        saved, thread_policy.SERIAL_BELOW = thread_policy.SERIAL_BELOW, math.inf
                        try:
                            out[name][side].append(block_time(work[side], 1))
                        finally:
                            thread_policy.SERIAL_BELOW = saved
                    else:
                        out[name][side].append(block_time(work[side], 1))
        return out

    idle = times()
    with workloads.busy_processes(2, seconds=busy_seconds):
        busy = times()
    rows, data = [], {}
    for name in fits:
        ratios = {side: [b / i for b, i in zip(busy[name][side], idle[name][side])] for side in sides}
        stats = {side: {"min": min(r), "median": statistics.median(r), "max": max(r)}
                 for side, r in ratios.items()}
        data[name] = {"idle_s": statistics.median(idle[name]["densenet"]), **stats}
        row = [name, seconds(data[name]["idle_s"]), fmt(stats["densenet"], 1)]
        if torch is not None:
            versus = [d / t for d, t in zip(busy[name]["densenet"], busy[name]["pytorch"])]
            data[name]["busy_densenet_over_pytorch"] = statistics.median(versus)
            row += [fmt(stats["pytorch"], 1), f"{statistics.median(versus):.2f}"]
        else:
            row += ["torch not installed", ""]
        row.append(fmt(stats["no policy"], 1))
        rows.append(row)
    rep.data["P6"] = data
    rep.table(["fit, one epoch", "densenet idle", "densenet busy / idle (P6, <= 3)", "PyTorch busy / idle",
               "densenet / PyTorch, busy", "without the policy: busy / idle"], rows)


def lbfgs_vs_sgd(rep: Report, scale: float = 1.0) -> None:
    rep.add("## L-BFGS vs SGD in the same wall time", "",
            "Each optimiser trains for the same wall time (what L-BFGS takes for its iterations, "
            "measured in this run); the table gives the training loss each reaches.", "")
    rows, data = [], {}
    for name, (lbfgs_run, sgd_run) in workloads.lbfgs_and_sgd(scale).items():
        seconds, lbfgs_loss = lbfgs_run()
        sgd_loss, sgd_epochs = sgd_run(seconds)
        rows.append([name, f"{seconds:.2f} s", f"{lbfgs_loss:.3g}", f"{sgd_loss:.3g} ({sgd_epochs} epochs)"])
        data[name] = {"seconds": seconds, "lbfgs": lbfgs_loss, "sgd": sgd_loss, "sgd_epochs": sgd_epochs}
    rep.data["lbfgs_vs_sgd"] = data
    rep.table(["problem", "wall time", "L-BFGS loss", "SGD loss"], rows)


def memory(rep: Report) -> None:
    rep.add("## Allocation (P5)", "",
            "tracemalloc peak during a further `fit` (3 epochs) of 64-128-10 on 256 x 64 float64 data, "
            "after a first `fit` has planned the steps (target <= 64 KiB):", "")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 64)), rng.uniform(size=(256, 10))
    rows = []
    for b in (1, 32):
        model = workloads.sigmoid_mlp((64, 128, 10))
        model.fit(X, y, epochs=1, batch_size=b)
        tracemalloc.start()
        model.fit(X, y, epochs=3, batch_size=b)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append([str(b), f"{peak / 1024:.1f} KiB"])
        rep.data[f"P5_batch{b}"] = peak
    rep.table(["batch size", "peak"], rows)


def peers(rep: Report, reps: int) -> None:
    rep.add("## scikit-learn", "",
            "`MLPRegressor` (logistic hidden units, plain SGD, no momentum, no L2; its output "
            "layer is linear) vs densenet, one epoch of 2-64-64-1 over 1024 samples:", "")
    try:
        rows = []
        for b in (1, 64):
            sk = workloads.sklearn_epochs((2, 64, 64, 1), n=1024, batch_size=b)
            ours = workloads.densenet_epoch((2, 64, 64, 1), n=1024, batch_size=b)
            r = compare(sk, ours, min(reps, 3), block=1)
            rows.append([str(b), fmt(r, 1)])
        rep.table(["batch size", "scikit-learn / densenet"], rows)
    except ImportError:
        rep.add("scikit-learn not installed.", "")


def plots(out: Path, data: dict[str, object]) -> list[str]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return []
    written = []
    w = data["width"]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(w["widths"], w["step_speedup"], "o-", label="batch-1 SGD step")
    ax.plot(w["widths"], w["epoch_speedup"], "s-", label="full-batch epoch, 1024 samples")
    ax.axhline(1, color="grey", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="hidden width h (2-h-1)",
           ylabel="speedup over the scalar MLP", title="Where vectorisation pays")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(out / "speedup_vs_width.png", dpi=110)
    written.append("speedup_vs_width.png")

    b = data["batch"]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(b["sizes"], b["samples_per_s"], "o-")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples / s",
           title="2-64-64-1 training throughput")
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(out / "samples_per_second.png", dpi=110)
    written.append("samples_per_second.png")

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    names, values = [], []
    for dtype in ("float64", "float32"):
        r3 = data[f"P3_{dtype}"]
        names += [f"BLAS floor\n{dtype}", f"densenet step\n{dtype}"]
        values += [r3["b_s"] * 1e3, r3["a_s"] * 1e3]
        if f"P4_{dtype}" in data:
            names.append(f"PyTorch step\n{dtype}")
            values.append(data[f"P4_{dtype}"]["b_s"] * 1e3)
    ax.bar(names, values, color=["grey", "C0", "C1"] * 2 if len(names) == 6 else None)
    ax.set(ylabel="ms (median, this run)", title=f"{data['big_network']}, batch 256: one SGD step")
    ax.tick_params(axis="x", labelsize=8)
    fig.savefig(out / "big_step.png", dpi=110)
    written.append("big_step.png")
    return written


def blas_line() -> str:
    """The BLAS libraries loaded and their kernels, the library of the large products, and
    which libraries run OpenBLAS's generic kernels (``thread_policy.generic_kernels``)."""
    generic = dn.thread_policy.generic_kernels()
    return ("BLAS: `" + json.dumps(workloads.blas_info()) + "`; the large products on "
            + workloads.gemm_library()
            + (f". {' and '.join(generic)}: OpenBLAS's generic kernels (it does not know this processor), "
               "slower than this processor's own on every product (README, \"Which kernels OpenBLAS "
               "runs\")" if generic else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, 3 widths")
    parser.add_argument("--smoke", action="store_true", help="1 repetition, 2 widths: checks the report runs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    reps = 1 if args.smoke else 3 if args.quick else 7
    global PAUSE, BUDGET
    PAUSE = 0.0 if args.smoke else 0.3
    BUDGET = 0.0 if args.smoke else 0.25
    widths = [2, 8] if args.smoke else [2, 16, 64] if args.quick else [2, 4, 8, 16, 64, 256]

    rep = Report()
    started = time.perf_counter()
    rep.add("# densenet benchmark report", "",
            f"densenet {dn.__version__}; every figure is a ratio of medians measured side by side "
            f"in this run, median (min-max) over {reps} repetitions.", "")
    rep.add("Machine: `" + json.dumps(workloads.machine()) + "`", "")
    rep.add(blas_line(), "")
    # a smoke run checks that every section runs, on smaller work where a section's takes seconds
    tutorial(rep, reps, epochs=100 if args.smoke else 1000)
    p2(rep, reps, 128 if args.smoke else 1024)
    width(rep, reps, widths)
    depth(rep, reps)
    batch(rep, reps)
    batch_one(rep, reps, args.smoke)
    small = (64, 32, 32, 10)  # the big sections' network in a smoke run
    big(rep, reps, small if args.smoke else workloads.BIG)
    other_blas(rep, reps, small if args.smoke else workloads.BIG, rounds=1 if args.smoke else 7,
               dtypes=("float64",) if args.smoke else ("float64", "float32"))
    blocks(rep, 1 if args.smoke else 3, batch_size=8 if args.smoke else 256,
           sizes=small if args.smoke else workloads.BIG)
    mnist_shape(rep, reps)
    sparse_data(rep, reps, 256 if args.smoke else 1024)
    callbacks(rep, reps, 256 if args.smoke else 4096)
    metrics(rep, reps, args.smoke)
    freeze(rep, 1 if args.smoke else reps, batch_size=8 if args.smoke else 256,
           sizes=small if args.smoke else workloads.BIG)
    lr_scale(rep, 1 if args.smoke else reps, batch_size=8 if args.smoke else 256,
             sizes=small if args.smoke else workloads.BIG)
    load(rep, 1 if args.smoke else 5, busy_seconds=60 if args.smoke else 600, steps=1 if args.smoke else None)
    lbfgs_vs_sgd(rep, 0.1 if args.smoke else 1.0)
    memory(rep)
    peers(rep, reps)
    written = plots(args.out, rep.data)
    rep.add(*[f"![{name}]({name})" for name in written], "",
            f"Ran in {time.perf_counter() - started:.0f} s: `python benchmarks/report.py`.")
    (args.out / "report.md").write_text("\n".join(rep.lines) + "\n")
    (args.out / "report.json").write_text(json.dumps(rep.data, indent=1, default=float) + "\n")
    print(f"\nwritten: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()
