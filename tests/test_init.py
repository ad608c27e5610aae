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
    assert model[0].b.tolist() == [0.0] * 3
    assert model[2].b.any()


def test_reset_parameters_draws_again_reproducibly():
    model = dn.Sequential(dn.Dense(2, 3), dn.Sigmoid(), dn.Dense(3, 1), seed=0)
    first = model.params.copy()
    model.reset_parameters(1)
    second = model.params.copy()
    model.reset_parameters(1)
    assert not np.array_equal(first, second)
    assert np.array_equal(second, model.params)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_bad_seeds(seed):
    with pytest.raises(TypeError, match="seed must be"):
        init.as_generator(seed)


def test_a_legacy_random_state_is_refused_with_what_to_give():
    with pytest.raises(TypeError, match=r"seed must be an integer >= 0, a numpy.random.SeedSequence, "
                                        r"Generator or bit generator, or None, got RandomState; a "
                                        r"RandomState is NumPy's legacy generator: give its seed$"):
        dn.Sequential(dn.Dense(2, 1), seed=np.random.RandomState(0))


def test_a_seed_sequence_or_a_bit_generator_seeds_as_numpy_does():
    """``SeedSequence.spawn`` is NumPy's way to give parallel work independent streams: its
    children seed a model and a fit as ``np.random.default_rng`` of them does (they were
    refused as not an int)."""
    X, y = np.random.default_rng(0).standard_normal((20, 2)), np.zeros((20, 1))
    children = np.random.SeedSequence(2026).spawn(2)

    def trained(seed, fit_seed):
        model = dn.Sequential(dn.Dense(2, 4), dn.Tanh(), dn.Dense(4, 1), seed=seed)
        model.fit(X, y, epochs=2, batch_size=4, seed=fit_seed)
        return model.params

    alike = trained(np.random.default_rng(children[0]), np.random.default_rng(children[1]))
    assert np.array_equal(trained(children[0], children[1]), alike)
    assert not np.array_equal(trained(children[1], children[0]), alike)
    assert np.array_equal(trained(np.random.PCG64(7), np.random.PCG64(8)), trained(7, 8))
    sequence = np.random.SeedSequence(5)
    model = dn.Sequential(dn.Dense(2, 1), seed=sequence)
    model.reset_parameters(sequence)
    assert np.array_equal(model.params, dn.Sequential(dn.Dense(2, 1), seed=5).params)


def test_a_negative_seed_is_named():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, .* got -1"):
        init.as_generator(-1)
    with pytest.raises(ValueError, match="got -3"):
        dn.Sequential(dn.Dense(2, 1), seed=np.int64(-3))
