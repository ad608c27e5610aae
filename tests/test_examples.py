"""The examples run and print what they promise.

Each runs in this process as ``python examples/<script> ...`` would run it (``run``): an
interpreter of its own spent 1.5-4 s a run importing what this one has loaded (the
scikit-learn the digits example reads its images with, 3 s of it), and this file took
1.37-1.47x its time so (14 runs; 100-105 s against 69-73, one thread, two runs of each).
The tutorial's runs, the README's main job, are fresh interpreters (``run_fresh``), as
are the examples' runs without their optional libraries (``tests/test_optional.py``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str) -> str:
    """What ``python examples/<script> args`` prints, run in this process; an exit with
    an error fails the test."""
    out = io.StringIO()
    with mock.patch.object(sys, "argv", [str(EXAMPLES / script), *args]), contextlib.redirect_stdout(out):
        try:
            runpy.run_path(str(EXAMPLES / script), run_name="__main__")
        except SystemExit as exited:
            if exited.code not in (None, 0):
                raise AssertionError(f"{script} {' '.join(args)} exited with {exited.code!r}") from None
    return out.getvalue()


def run_fresh(script: str, *args: str) -> str:
    """What ``python examples/<script> args`` prints, run in an interpreter of its own."""
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                            capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


@pytest.mark.parametrize("script, args, message", [
    ("tutorial.py", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("tutorial.py", ["--epochs", "0"], "--epochs must be at least 1"),
    ("tutorial.py", ["--lr", "-1"], "--lr must be a finite number >= 0"),
    ("tutorial.py", ["--lr", "nan"], "--lr must be a finite number >= 0"),
    ("digits.py", ["--seeds", "0", "-1"], "--seeds must be integers >= 0"),
    ("digits.py", ["--epochs", "0"], "--epochs must be at least 1"),
    ("digits.py", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("digits.py", ["--lr", "-2"], "--lr must be a finite number >= 0"),
    ("digits.py", ["--one-cycle", "inf"], "--one-cycle must be a finite number > 0"),
    ("digits.py", ["--sizes", "64", "0", "10"], "--sizes must be at least 1"),
    ("mnist.py", ["--data", ".", "--epochs", "0"], "--epochs must be at least 1"),
    ("mnist.py", ["--data", ".", "--seed", "-3"], "--seed must be an integer >= 0"),
    ("mnist.py", ["--data", ".", "--sizes", "784", "0", "10"], "--sizes must be at least 1"),
    ("finetune.py", ["--repeats", "0"], "--repeats must be at least 1"),
    ("finetune.py", ["--body-scale", "-1"], "--body-scale must be a finite number >= 0"),
    ("finetune.py", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("imbalanced.py", ["--samples", "5"], "--samples must be at least 200"),
    ("imbalanced.py", ["--epochs", "0"], "--epochs must be at least 1"),
    ("imbalanced.py", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("scaling.py", ["--samples", "2"], "--samples must be at least 3"),
    ("scaling.py", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("scaling.py", ["--seed", "-2"], "--seed must be an integer >= 0"),
    ("dask_search.py", ["--workers", "0"], "--workers must be at least 1"),
])
def test_examples_refuse_bad_arguments_by_name_before_any_work(script, args, message, capsys):
    """A usage error (exit status 2) naming the argument: ``digits.py --epochs 0`` and
    ``--batch-size 0`` ran the recipe's defaults (100 epochs) silently, and a negative seed or
    rate ended in a traceback from deep in NumPy or the optimiser."""
    assert f"error: {message}" in usage_error(script, *args, capsys=capsys)


@pytest.mark.parametrize("labels", ["0", "797"])
def test_finetune_refuses_more_labelled_images_than_it_has_to_give(labels, capsys):
    """``rng.choice`` refused 100,000 in NumPy's words; 0 failed in ``fit`` (an empty X)."""
    pytest.importorskip("sklearn")
    message = "error: --labels must be from 1 to 796 (of the 797 images"
    assert message in usage_error("finetune.py", "--labels", labels, capsys=capsys)


def usage_error(script: str, *args: str, capsys) -> str:
    """What ``python examples/<script> args`` writes to stderr, exiting with argparse's
    status for a usage error (2)."""
    with mock.patch.object(sys, "argv", [str(EXAMPLES / script), *args]), pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_describes_itself_in_whole_sentences_under_help(script, monkeypatch, capsys):
    doc = ast.get_docstring(ast.parse((EXAMPLES / script).read_text()))
    summary = " ".join(doc.split("\n\n")[0].split())
    assert summary.endswith(".")
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / script), "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert exited.value.code == 0
    assert summary in " ".join(capsys.readouterr().out.split())


def test_tutorial_example_trains_and_classifies():
    out = run_fresh("tutorial.py", "--seed", "3")
    lines = out.splitlines()
    table = [line for line in lines if line[:5].strip().isdigit()]
    assert [int(line.split()[0]) for line in table] == list(range(0, 1000, 100))
    first, last = float(table[0].split()[1]), float(table[-1].split()[-1])
    assert last < first / 10
    assert any(line.split()[:1] == ["Emily"] and line.endswith("-> F") for line in lines)
    assert any(line.split()[:1] == ["Frank"] and line.endswith("-> M") for line in lines)


def test_tutorial_example_writes_the_loss_curve(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_fresh("tutorial.py", "--epochs", "50", "--plot", str(tmp_path / "loss.png"))
    assert "loss curve written to" in out
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_imbalanced_example_finds_more_positives_with_pos_weight():
    pytest.importorskip("sklearn")
    out = run("imbalanced.py")  # (the defaults: 6,000 samples, about 2 s)
    rows = {line.split()[0].split("(")[1]: [float(v) for v in line.split()[-5:]]
            for line in out.splitlines() if line.startswith("BCEWithLogitsLoss(")}
    plain, weighted = rows[")"], rows[next(key for key in rows if key.startswith("pos_weight"))]
    accuracy, precision, recall, f1, auc = range(5)
    assert plain[accuracy] > 0.9
    assert weighted[recall] > plain[recall] + 0.1
    assert weighted[precision] < plain[precision]
    assert min(plain[auc], weighted[auc]) > 0.7


def test_finetune_example_answers_a_new_question_with_a_frozen_classifier():
    pytest.importorskip("sklearn")
    out = run("finetune.py", "--repeats", "3")  # (50 labelled images, about 1 s)
    rows = {line[:18].strip(): line[18:].split() for line in out.splitlines() if line.startswith("  ")
            and line.split()[0] in ("from", "frozen", "then")}
    scratch, frozen, tuned = rows["from scratch"], rows["frozen"], rows["then fine-tuned"]
    slower = rows["then body slower"]
    assert float(frozen[0]) > 0.95
    assert float(frozen[0]) > float(scratch[0]) + 0.05
    assert float(tuned[0]) > float(scratch[0])
    assert float(slower[0]) > float(tuned[0])  # the copied layers at a tenth of the rate keep more
    assert (int(scratch[2]), int(frozen[2]), int(tuned[2]), int(slower[2])) == (26144, 22, 26144, 26144)


def test_scaling_example_reports_every_network():
    out = run("scaling.py", "--samples", "900", "--epochs", "10")
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit() and "-" in line.split()[0]]
    assert [r[0] for r in rows] == ["2-2-1", "2-16-1", "2-64-64-1", "2-64-64-1"]
    assert [r[1] for r in rows] == ["float64", "float64", "float64", "float32"]
    assert all(0.5 < float(r[5].rstrip("%")) / 100 <= 1 for r in rows)


def digits_accuracies(*args: str) -> list[float]:
    pytest.importorskip("sklearn")
    return accuracies_in(run("digits.py", *args))


def accuracies_in(out: str) -> list[float]:
    """The test accuracies (%) examples/digits.py printed, one per seed."""
    return [float(line.split("test accuracy ")[1].split("%")[0]) for line in out.splitlines()
            if "test accuracy" in line]


def test_digits_example_reaches_its_target_with_the_tutorials_recipe():
    accuracies = digits_accuracies("--seeds", "0", "1")
    assert len(accuracies) == 2
    assert min(accuracies) >= 95.0


def test_digits_example_reaches_97_percent_with_six_relu_layers_cross_entropy_and_adam():
    accuracies = digits_accuracies("--recipe", "modern", "--seeds", "0", "1", "2")
    assert len(accuracies) == 3
    assert min(accuracies) >= 97.0


@pytest.mark.parametrize(("optimizer", "seeds"), [("radam", ["0"]), ("nadam", ["0", "1", "2"]),
                                                  ("adamax", ["0"])])
def test_digits_example_s_modern_recipe_reaches_97_percent_with_another_optimizer(optimizer, seeds):
    """Each at its default rate, in float32 (about 0.4x float64's time), the median of
    ``seeds``. Seeds 0-4 in float32, measured on a Xeon with AVX-512 and AMX: RAdam
    98.0-98.7%, NAdam 97.1-98.9%, Adamax 97.8-98.4% (Adam 98.2-98.9%). In float64 RAdam
    98.0-98.7% and Adamax 98.0-98.4% on two machines; NAdam 97.3-98.4% on an AMD EPYC but
    96.9-98.4% on that Xeon, whose seed 0 ends on a late jump of the loss: the last bits of a
    step differ by machine, and a training's path with them, hence three seeds for NAdam."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--recipe", "modern", "--optimizer", optimizer, "--float32", "--seeds", *seeds)
    assert f"CrossEntropyLoss, {dict(radam='RAdam', nadam='NAdam', adamax='Adamax')[optimizer]}(" in out
    assert ", float32, " in out.splitlines()[0]
    accuracies = accuracies_in(out)
    assert len(accuracies) == len(seeds)
    assert sorted(accuracies)[len(seeds) // 2] >= 97.0


def test_digits_example_chooses_its_rate_by_the_range_test():
    """``--lr-find``: the rate each seed trains at is lr_find's suggestion (64-128-128-10,
    10 epochs: 96.4-97.1% for seeds 0-2, rates 0.014-0.024, measured)."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--recipe", "modern", "--lr-find", "--seeds", "0", "--sizes", "64", "128", "128",
              "10", "--epochs", "10")
    assert "the rate by lr_find" in out.splitlines()[0]
    assert " by lr_find" in out.splitlines()[1]
    assert accuracies_in(out)[0] >= 96.0


def test_digits_example_with_one_cycle_reaches_in_20_epochs_what_a_constant_rate_reaches_in_100():
    """The tutorial's recipe, 20 epochs: 96.4-96.9% with the one-cycle policy up to lr 2
    (seeds 0-4), 92.2-93.8% at the constant lr 2 (measured), 96.4-96.9% at it in 100."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--epochs", "20", "--one-cycle", "2.0", "--seeds", "0", "1", "2")
    assert "SGD, one cycle up to lr 2.0" in out.splitlines()[0]
    accuracies = accuracies_in(out)
    assert len(accuracies) == 3
    assert min(accuracies) >= 96.0


def test_digits_example_learns_at_depth_with_batchnorm():
    """Three hidden sigmoid layers, SGD lr 0.2, 20 epochs: 94-96% with a BatchNorm1d before
    each sigmoid (seeds 0-2), 8% without (measured; tests/test_batchnorm.py shows the same
    on two moons)."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--sizes", "64", "128", "128", "128", "10", "--lr", "0.2", "--epochs", "20",
              "--seeds", "0", "1", "--batchnorm")
    assert "BatchNorm1d before each hidden activation" in out.splitlines()[0]
    accuracies = accuracies_in(out)
    assert len(accuracies) == 2
    assert min(accuracies) >= 92.0


def test_digits_example_takes_another_activation_and_layer_normalisation():
    """Three hidden SELU layers (LeCun initialisation) with a LayerNorm before each, Adam,
    8 epochs: 96.7% and 97.1% (seeds 0 and 1, measured)."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--recipe", "modern", "--sizes", "64", "128", "128", "128", "10", "--epochs", "8",
              "--seeds", "0", "1", "--activation", "selu", "--layernorm")
    assert "SELU, CrossEntropyLoss" in out.splitlines()[0]
    assert "LayerNorm before each" in out.splitlines()[0]
    accuracies = accuracies_in(out)
    assert len(accuracies) == 2
    assert min(accuracies) >= 94.0


def test_digits_example_takes_tanh_with_glorot_initialisation():
    """Two hidden Tanh layers, Adam, 8 epochs: 96.0% and 96.7% (seeds 0 and 1, measured)."""
    pytest.importorskip("sklearn")
    out = run("digits.py", "--recipe", "modern", "--sizes", "64", "128", "128", "10", "--epochs", "8",
              "--seeds", "0", "1", "--activation", "tanh")
    assert "64-128-128-10, Tanh, CrossEntropyLoss" in out.splitlines()[0]
    accuracies = accuracies_in(out)
    assert len(accuracies) == 2
    assert min(accuracies) >= 94.0


def test_mnist_example_runs_both_recipes_on_small_files(tmp_path):
    import numpy as np

    from .test_datasets import small_mnist, write_mnist

    write_mnist(tmp_path, small_mnist(np.random.default_rng(0), n_train=120, n_test=30))
    for recipe in ("classic", "modern"):
        out = run("mnist.py", "--data", str(tmp_path), "--epochs", "2", "--recipe", recipe)
        lines = out.splitlines()
        assert lines[0].startswith("MNIST: 100 training, 20 validation, 30 test images; " + recipe)
        epochs = [line for line in lines if line.startswith("epoch")]
        assert [line.split(":")[0] for line in epochs] == ["epoch   1", "epoch   2"]
        assert all("validation" in line and "test" in line for line in epochs)
        assert lines[-1].startswith("best validation accuracy")


@pytest.mark.parametrize("recipe", ["classic", "modern"])
def test_mnist_example_stopped_and_started_again_ends_as_one_that_never_stopped(recipe, tmp_path, monkeypatch,
                                                                                capsys):
    import numpy as np

    from .test_datasets import small_mnist, write_mnist

    write_mnist(tmp_path, small_mnist(np.random.default_rng(1), n_train=120, n_test=30))
    checkpoint = str(tmp_path / "run.npz")

    def mnist(*args):  # in this process (see the --help test); the epochs' lines without their times
        monkeypatch.setattr(sys, "argv", ["mnist.py", "--data", str(tmp_path), "--recipe", recipe, *args])
        runpy.run_path(str(EXAMPLES / "mnist.py"), run_name="__main__")
        out = capsys.readouterr().out
        return out, [line.rsplit(",", 1)[0] for line in out.splitlines() if line.startswith("epoch")]

    _, whole = mnist("--epochs", "3")
    _, first = mnist("--epochs", "2", "--checkpoint", checkpoint)
    out, rest = mnist("--epochs", "3", "--checkpoint", checkpoint)
    assert "going on from" in out
    assert "after epoch 2" in out
    assert first + rest == whole
    assert len(whole) == 3
    with pytest.raises(SystemExit):
        mnist("--epochs", "4", "--sizes", "784", "12", "10", "--checkpoint", checkpoint)
    assert "holds another network" in capsys.readouterr().err


def test_mnist_example_says_which_files_to_put_where(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "mnist.py"), "--data", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "lacks train-images-idx3-ubyte.gz" in result.stderr
    assert "run with --download" in result.stderr


def test_the_grid_search_on_a_dask_cluster_finds_what_a_local_one_finds():
    """joblib's dask backend sends the fits to LocalCluster workers; the models come back
    bit-identical to local fits, so the scores are equal, not merely close."""
    pytest.importorskip("distributed")
    pytest.importorskip("sklearn")
    import importlib.util

    spec = importlib.util.spec_from_file_location("dask_search", EXAMPLES / "dask_search.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    on_dask = example.search(None, workers=2)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from .conftest import short_fits

    with short_fits():  # (the example's 30 epochs)
        local = GridSearchCV(on_dask.estimator, on_dask.param_grid, cv=3).fit(*load_digits(return_X_y=True))
    assert on_dask.best_params_ == local.best_params_
    assert on_dask.cv_results_["mean_test_score"].tolist() == local.cv_results_["mean_test_score"].tolist()
