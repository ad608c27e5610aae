"""densenet.plot."""

from __future__ import annotations

import numpy as np
import pytest

import densenet as dn

from .conftest import mlp

matplotlib = pytest.importorskip("matplotlib")


def test_loss_curve_returns_a_figure_and_saves_headless(tmp_path):
    from densenet.plot import loss_curve

    X = np.random.default_rng(0).standard_normal((20, 2))
    y = (X[:, :1] > 0).astype(float)
    history = mlp((2, 4, 1)).fit(X, y, epochs=15, validation_data=(X, y))
    fig = loss_curve(history, title="demo")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(1, 16))  # epochs from 1
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), history.loss)
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "demo"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["training loss", "validation loss"]
    assert ax.xaxis.get_gridlines()[0].get_visible()
    assert ax.yaxis.get_gridlines()[0].get_visible()
    fig.savefig(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_curve_draws_a_metric_and_its_validation_values():
    from densenet.plot import metric_curve

    X = np.random.default_rng(0).standard_normal((40, 2))
    y = (X[:, :1] > 0).astype(float)
    history = mlp((2, 4, 1)).fit(X, y, epochs=6, validation_data=(X[:20], y[:20]),
                                 metrics=["accuracy", "mae"])
    ax = metric_curve(history, title="right").axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["training accuracy", "validation accuracy"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), history["accuracy"])
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), history["val_accuracy"])
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), np.arange(1, 7))
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("epoch", "accuracy", "right")
    alone = mlp((2, 4, 1)).fit(X, y, epochs=3, metrics=["mae"])
    ax = metric_curve(alone, "mae").axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["training mae"]
    with pytest.raises(KeyError, match="History has no 'r2'"):
        metric_curve(alone, "r2")


def test_loss_curve_draws_on_a_given_axes():
    from matplotlib.figure import Figure

    from densenet.plot import loss_curve

    fig = Figure()
    ax = fig.add_subplot()
    history = dn.History(loss=np.array([0.5, 0.25, 0.0]))
    assert loss_curve(history, ax=ax) is fig
    assert ax.get_yscale() == "linear"
    assert len(ax.get_lines()) == 1


def test_lr_curve_draws_the_losses_against_the_rates_and_the_suggestion(tmp_path):
    from densenet.plot import lr_curve

    X = np.linspace(-3, 3, 64).reshape(-1, 1)
    model = dn.Sequential(dn.Dense(1, 1), seed=0)
    found = dn.lr_find(model, X, 3 * X, start_lr=1e-4, end_lr=1e4, batch_size=16)
    assert found.suggestion is not None
    fig = lr_curve(found, title="range test")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["batch loss", "smoothed loss",
                                                    f"suggestion {found.suggestion:.3g}"]
    np.testing.assert_array_equal(lines[0].get_xdata(), found.rates)
    np.testing.assert_array_equal(lines[0].get_ydata(), found.losses)
    np.testing.assert_array_equal(lines[1].get_ydata(), found.smoothed)
    assert list(lines[2].get_xdata()) == [found.suggestion] * 2
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "range test"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("learning rate", "loss")
    fig.savefig(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_scale_is_true_or_false():
    from densenet.plot import loss_curve

    history = mlp((2, 4, 1)).fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2)
    with pytest.raises(TypeError, match="loss_curve: log_scale must be True or False, got 'no'"):
        loss_curve(history, log_scale="no")
