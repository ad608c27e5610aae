"""Initialisers."""

from __future__ import annotations

import numpy as np
import pytest

import densenet as dn
from densenet import init


@pytest.mark.parametrize("name, std", [
    ("glorot_uniform", np.sqrt(2 / (300 + 200))),
    ("glorot_normal", np.sqrt(2 / (300 + 200))),
    ("he_uniform", np.sqrt(2 / 300)),
    ("he_normal", np.sqrt(2 / 300)),
    ("lecun_uniform", np.sqrt(1 / 300)),
    ("lecun_normal", np.sqrt(1 / 300)),
    ("normal", 1.0),
])
def test_initialisers_have_the_documented_spread(name, std):
    W, b = np.full((300, 200), 9.0), np.full(200, 9.0)  # (not np.empty: it may hold an earlier draw)
    init.initialise(name, W, b, np.random.default_rng(0))
    assert abs(W.std() / std - 1) < 0.02
    assert abs(W.mean()) < 0.05 * std
    # uniform draws stay within sqrt(3) std; 60,000 normal ones pass it (P(|z| > sqrt 3) = 8%)
    assert (np.abs(W).max() <= np.sqrt(3) * std) == name.endswith("uniform")
    if name == "normal":
        assert abs(b.std() - 1) < 0.2
    else:
        assert not b.any()


def test_uniform_bounds():
    W, b = np.empty((30, 20)), np.empty(20)
    init.initialise("glorot_uniform", W, b, np.random.default_rng(0))
    assert np.abs(W).max() <= np.sqrt(6 / 50)


def test_aliases_and_errors():
    assert init.get("xavier_uniform") is init.glorot_uniform
    with pytest.raises(ValueError, match="unknown initialiser 'zeros'; known: glorot_normal"):
        init.get("zeros")
    with pytest.raises(TypeError, match="init must be a name"):
        init.get(3)


def test_initialisation_fills_views_in_place_and_respects_dtype():
    model = dn.Sequential(dn.Dense(4, 3, init="he_normal"), dn.Sigmoid(), dn.Dense(3, 2, init="normal"),
                          dtype=np.float32, seed=0)
    assert model.params.dtype == np.float32
    assert np.shares_memory(model[0].W, model.params)
    assert model[0].b.tolist() == [0.0] * 3 and model[2].b.any()


def test_reset_parameters_draws_again_reproducibly():
    model = dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0)
    first = model.params.copy()
    model.reset_parameters(1)
    second = model.params.copy()
    model.reset_parameters(1)
    assert not np.array_equal(first, second) and np.array_equal(second, model.params)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_bad_seeds(seed):
    with pytest.raises(TypeError, match="seed must be"):
        init.as_generator(seed)


def test_a_negative_seed_is_named():
    with pytest.raises(ValueError, match="seed must be a non-negative integer, .* got -1"):
        init.as_generator(-1)
    with pytest.raises(ValueError, match="got -3"):
        dn.Sequential(dn.Dense(2, 1), seed=np.int64(-3))
