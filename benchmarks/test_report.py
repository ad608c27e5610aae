"""report.py runs end to end and writes every section and plot (a one-repetition smoke run)."""

from __future__ import annotations

import json

import pytest
import report

pytest.importorskip("matplotlib")  # the report's plots


def test_the_blas_line_names_the_libraries_on_openblas_s_generic_kernels(monkeypatch):
    for generic in ([], ["OpenBLAS 0.3.21 (numpy.libs)"]):
        monkeypatch.setattr(report.dn.thread_policy, "generic_kernels", lambda generic=generic: generic)
        line = report.blas_line()
        assert line.startswith("BLAS: `[{")
        assert '"architecture": ' in line
        said = "OpenBLAS 0.3.21 (numpy.libs): OpenBLAS's generic kernels (it does not know this processor)"
        assert (said in line) == bool(generic)


def test_report_smoke_run(tmp_path, capsys):
    report.main(["--smoke", "--out", str(tmp_path)])
    text = (tmp_path / "report.md").read_text()
    for heading in ("Tutorial training (P1)", "2-64-64-1 (P2, P2b)", "Width", "Depth",
                    "Batch size", "Big layers", "Allocation (P5)", "scikit-learn",
                    "L-BFGS vs SGD in the same wall time", "MNIST-shaped epoch", "Under load",
                    "Sparse rows: a bag of words",
                    "Callbacks: a checkpoint after each epoch, an average and a schedule after each batch",
                    "Training metrics and decay masks: what they add to an epoch",
                    "Frozen modules: a fine-tuning step (64-32-32-10 ReLU, batch 8, Adam)",
                    "Per-parameter learning rates: a step with an lr_scale (64-32-32-10 ReLU, batch 8)"):
        assert f"## {heading}" in text
    assert "BLAS:" in text
    assert "Crossover" in text
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["P1"]["min"] <= data["P1"]["median"] <= data["P1"]["max"]
    assert data["P5_batch1"] > 0
    assert '"cpu": "' in text
    if "P4_float64" in data:  # with PyTorch: its products timed beside the floor too
        assert data["floor_vs_torch_float64"]["median"] > 0
        assert "floor / PyTorch's products" in text
    assert "## The large products on MKL (`DENSENET_BLAS=mkl`)" in text
    if "MKL is not installed here" not in text:  # each side timed in a process of its own
        assert set(data["mkl_float64"]) >= {"mkl_vs_openblas", "hand_mkl_vs_openblas", "P3", "P3h",
                                            "adam_mkl_vs_openblas", "gelu_mkl_vs_openblas",
                                            "selu_mkl_vs_openblas"}
        assert all(0 < r["min"] <= r["median"] <= r["max"] for r in data["mkl_float64"].values())
    assert "## Blocks: one activation, loss or optimiser at a time" in text
    assert "## Batch size 1 on big layers" in text
    if "P4_float64" in data:  # the smoke run's one batch-1 fit, both dtypes
        assert set(data["batch_one"]) == {"64-256-256-10_float64", "64-256-256-10_float32"}
    names = ("sigmoid", "relu", "leaky_relu", "gelu", "elu", "silu", "selu", "prelu", "softplus", "tanh",
             "softmax", "cross_entropy", "nll", "bce", "bce_with_logits", "poisson", "l1", "huber",
             "momentum", "momentum_wd", "adam", "adamw", "rmsprop", "adagrad", "amsgrad", "radam", "nadam",
             "adamax", "sample_weight", "dropout", "alpha_dropout", "batchnorm", "layernorm")
    assert set(data["blocks"]) == {f"{b}_{d}" for b in names for d in ("float64", "float32")}
    assert data["P7"]["median"] > 1  # the per-sample loop is slower, whatever the machine
    assert data["sparse_densenet-dense_256"]["median"] > 0
    assert {key for key in data if key.startswith("callbacks_")} == {
        f"callbacks_{label}_{shape}" for label in ("checkpoint", "averaging", "one-cycle")
        for shape in ("small", "big")}
    assert set(data["P6"]) == set(report.workloads.LOAD_FITS)
    fits, sides = report.workloads.METRIC_FITS, report.workloads.METRIC_SIDES
    assert {key for key in data if key.startswith("metrics_")} == {
        f"metrics_{fit}_{side}" for fit in fits for side in sides
        if side != "none" and (side != "auc" or fit != "mnist-shape")}
    assert data["decay_mask"]["median"] > 0
    assert set(data["freeze"]) == {f"{side}_{dtype}" for side in report.workloads.FREEZE_SIDES
                                   for dtype in ("float32", "float64")}
    assert all(entry["none"]["median"] > 0 for key, entry in data["freeze"].items() if key[:4] != "none")
    assert set(data["lr_scale"]) == {f"{name}_{dtype}" for name in report.workloads.LR_SCALE_OPTIMIZERS
                                     for dtype in ("float32", "float64")}
    assert all(entry["none"]["median"] > 0 for entry in data["lr_scale"].values())
    for problem in data["lbfgs_vs_sgd"].values():
        assert problem["seconds"] > 0
        assert problem["sgd_epochs"] >= 1
    for name in ("speedup_vs_width.png", "samples_per_second.png", "big_step.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
