"""Every entry point rejects bad input with a clear error and leaves the model exactly as it was."""

from __future__ import annotations

import inspect
import re
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse

import densenet as dn

from .conftest import mlp

X_OK, Y_OK = np.ones((6, 2)), np.full((6, 1), 0.5)


DY = np.ones((len(X_OK), 1))

#: a file in a folder that does not exist: a check that failed to refuse could not write there
NOWHERE = "/nonexistent-densenet-folder/unused.npz"


def state(model):
    return model.params.copy(), model.grads.copy(), model.rng.bit_generator.state


BAD_CALLS = {
    "predict 1-D": (lambda m: m.predict(np.ones(2)), ValueError, "reshape"),
    "predict features": (lambda m: m.predict(np.ones((3, 5))), ValueError,
                         r"X has 5 features .* expects 2 features"),
    "predict strings": (lambda m: m.predict([["a", "b"]]), TypeError, "real numbers"),
    "fit sparse y": (lambda m: m.fit(X_OK, sparse.csr_array(Y_OK)), TypeError,
                     "y is a SciPy sparse csr_array"),
    "predict inf": (lambda m: m.predict([[np.inf, 0.0]]), ValueError, "non-finite"),
    "forward empty": (lambda m: m.forward(np.ones((0, 2))), ValueError, "empty"),
    "fit nan y": (lambda m: m.fit(X_OK, [[0.5]] * 5 + [[np.nan]]), ValueError,
                  r"y holds 1 non-finite .* index \(5, 0\)"),
    "fit y rows": (lambda m: m.fit(X_OK, Y_OK[:5]), ValueError, "different numbers of samples"),
    "fit y width": (lambda m: m.fit(X_OK, np.ones((6, 3))), ValueError, r"y has shape \(6, 3\)"),
    "fit complex y": (lambda m: m.fit(X_OK, Y_OK + 1j), TypeError, "complex"),
    "fit epochs": (lambda m: m.fit(X_OK, Y_OK, epochs=0), ValueError, "epochs"),
    "fit batch": (lambda m: m.fit(X_OK, Y_OK, batch_size=-2), ValueError, "batch_size"),
    "fit validation": (lambda m: m.fit(X_OK, Y_OK, validation_data=(X_OK, Y_OK[:2])), ValueError,
                       "X_val and y_val"),
    "fit early stopping": (lambda m: m.fit(X_OK, Y_OK, callbacks=[dn.EarlyStopping()]), ValueError,
                           "validation_data"),
    "fit callbacks": (lambda m: m.fit(X_OK, Y_OK, callbacks=[object()]), TypeError, "Callback"),
    "evaluate y": (lambda m: m.evaluate(X_OK, np.ones(5)), ValueError, "different numbers"),
    "backward shape": (lambda m: m.backward(np.ones((6, 2))), ValueError, "dY has shape"),
    "gradcheck X": (lambda m: dn.gradcheck(m, np.ones((2, 3)), np.ones((2, 1))), ValueError, "features"),
    # a flag is True or False: a string such as "no" is true
    "fit verbose": (lambda m: m.fit(X_OK, Y_OK, verbose="no"), TypeError,
                    "fit: verbose must be True or False, got 'no'"),
    "backward input_grad": (lambda m: m.backward(DY, input_grad="no"), TypeError,
                            "Sequential.backward: input_grad must be True or False, got 'no'"),
    "gradcheck raise_exception": (lambda m: dn.gradcheck(m, X_OK, Y_OK, raise_exception="no"), TypeError,
                                  "gradcheck: raise_exception must be True or False, got 'no'"),
    "early stopping flag": (lambda m: dn.EarlyStopping(restore_best_weights="no"), TypeError,
                            "EarlyStopping: restore_best_weights must be True or False, got 'no'"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_calls_raise_clearly_and_change_nothing(name):
    call, error, message = BAD_CALLS[name]
    model = mlp((2, 3, 1))
    model.fit(X_OK, Y_OK, epochs=1, batch_size=4)
    model.forward(X_OK)
    dX = model.backward(DY)
    before = state(model)
    with pytest.raises(error, match=message):
        call(model)
    after = state(model)
    assert_array_equal(after[0], before[0])
    assert_array_equal(after[1], before[1])
    assert after[2] == before[2]
    # backward still refers to the forward pass before the bad call
    assert_array_equal(model.backward(DY), dX)
    assert_array_equal(model.grads, before[1])


@pytest.mark.parametrize("make, error, message", [
    (lambda: dn.Dense(0, 3), ValueError, "positive integer, got 0"),
    (lambda: dn.Dense(2.5, 3), TypeError, "positive integer, got 2.5"),
    (lambda: dn.Dense(2, 3, init="xavier"), ValueError, "unknown initialiser 'xavier'"),
    (lambda: dn.Sequential(dn.Dense(2, 3), dn.Dense(2, 1)), ValueError, "gives 3"),
    (lambda: dn.Sequential(dn.Dense(2, 3), seed=1.5), TypeError, "seed"),
    (lambda: dn.SGD(lr=float("inf")), ValueError, "learning rate"),
    (lambda: dn.SGD(lr=-1), ValueError, "learning rate"),
    (lambda: dn.EarlyStopping(patience=0), ValueError, "patience"),
    (lambda: dn.EarlyStopping(monitor=3), TypeError,
     "EarlyStopping: monitor must be the name of what fit records"),
    (lambda: dn.ModelCheckpoint(NOWHERE, monitor=""), TypeError,
     "ModelCheckpoint: monitor must be the name of what fit records"),
    (lambda: dn.MSELoss().forward(np.ones((3, 1)), np.ones(3)), ValueError, "must match exactly"),
    # the functions that take a model say so of anything else
    (lambda: dn.gradcheck(5, X_OK, Y_OK), TypeError,
     "gradcheck: model must be a densenet Sequential, got int 5"),
    (lambda: dn.lr_find("m", X_OK, Y_OK), TypeError,
     "lr_find: model must be a densenet Sequential, got str 'm'"),
    (lambda: dn.update_bn([dn.Dense(2, 1)], X_OK), TypeError,
     r"update_bn: model must be a densenet Sequential, got list \[Dense\(in_features=2, out_features=1\)\]$"),
    (lambda: dn.update_bn([dn.Dense(2, 1), dn.Dense(1, 1)], X_OK), TypeError,  # (a long repr: 57 characters)
     r"got list \[Dense\(in_features=2, out_features=1\), Dense\(in_features=\.\.\.$"),
    (lambda: dn.update_bn("m" * 58, X_OK), TypeError, r"got str 'm{58}'$"),  # (60 characters: shown whole)
    (lambda: dn.update_bn("m" * 59, X_OK), TypeError, r"got str 'm{56}\.\.\.$"),
    # gradcheck's step and tolerances
    (lambda: dn.gradcheck(mlp((2, 3, 1)), X_OK, Y_OK, eps=0), ValueError,
     r"gradcheck: invalid eps 0; it must lie in \(0, inf\)"),
    (lambda: dn.gradcheck(mlp((2, 3, 1)), X_OK, Y_OK, eps=float("nan")), ValueError,
     "gradcheck: invalid eps nan"),
    (lambda: dn.gradcheck(mlp((2, 3, 1)), X_OK, Y_OK, atol=-1e-5), ValueError,
     "gradcheck: invalid atol -1e-05"),
    (lambda: dn.gradcheck(mlp((2, 3, 1)), X_OK, Y_OK, rtol="0.1"), TypeError,
     "gradcheck: rtol must be a real number, got str '0.1'"),
    # a NumPy number by its value (NumPy 2's repr is np.float64(...))
    (lambda: dn.Adam(betas=(np.float32(1.5), 0.9)), ValueError,
     r"^Adam: invalid beta1 1\.5; it must lie in \[0, 1\)$"),
    (lambda: dn.Dropout(np.int64(3)), ValueError, r"^Dropout: invalid p 3; it must lie in \[0, 1\]$"),
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, epochs=np.float64(1.5)), TypeError,
     r"^epochs must be an integer >= 1, got 1\.5$"),
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, shuffle=np.int64(1)), TypeError,
     rf"^shuffle must be True or False, got {re.escape(repr(np.int64(1)))}$"),  # (its type: NumPy 2's repr)
    # one callback where a list of them is taken
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, callbacks=dn.EarlyStopping()), TypeError,
     r"fit: callbacks must be a list of callbacks, got one EarlyStopping: pass it in a list, "
     r"callbacks=\[\.\.\.\]"),
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, callbacks=3), TypeError,
     "fit: callbacks must be a list of callbacks, got int 3"),
    (lambda: mlp((2, 3, 1)).save(NOWHERE, schedules=dn.StepLR(dn.SGD(0.1), 2)), TypeError,
     r"save: schedules must be a list of callbacks, got one StepLR: pass it in a list, schedules=\[\.\.\.\]"),
    (lambda: dn.load(NOWHERE, schedules=0), TypeError,
     "load: schedules must be a list of callbacks, got int 0"),
    (lambda: dn.ModelCheckpoint(NOWHERE, schedules=dn.StepLR(dn.SGD(0.1), 2)), TypeError,
     "ModelCheckpoint: schedules must be a list of callbacks, got one StepLR"),
    (lambda: dn.SequentialLR(dn.SGD(0.1), dn.StepLR(dn.SGD(0.1), 2), milestones=[]), TypeError,
     "SequentialLR: schedules must be a list of callbacks, got one StepLR"),
    # a class where a list of instances is taken (was "got type <class '...'>"), and one metric
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, callbacks=dn.EarlyStopping), TypeError,
     r"^fit: callbacks must be a list of callbacks, got the class EarlyStopping: pass an instance in a "
     r"list, callbacks=\[EarlyStopping\(\.\.\.\)\]$"),
    (lambda: mlp((2, 3, 1)).fit(X_OK, Y_OK, metrics=dn.MeanAbsoluteError), TypeError,
     r"^fit: metrics must be a list of metrics \(names such as 'accuracy', or densenet Metric objects\), got "
     r"the class MeanAbsoluteError: pass an instance in a list, metrics=\[MeanAbsoluteError\(\.\.\.\)\]$"),
    (lambda: mlp((2, 3, 1)).evaluate(X_OK, Y_OK, metrics=dn.MeanAbsoluteError()), TypeError,
     r"^evaluate: metrics must be a list of metrics \(names such as 'accuracy', or densenet Metric "
     r"objects\), got one MeanAbsoluteError: pass it in a list, metrics=\[\.\.\.\]$"),
    # a thread count is a C int
    (lambda: dn.set_num_threads(2**40), ValueError,
     r"set_num_threads: n must be an integer from 1 to 2147483647 or None, got 1099511627776"),
])
def test_constructors_and_arguments_are_checked(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_array_like_with_to_numpy_but_no_isna_is_taken_as_an_array():
    class Table:  # an array-like that is not a pandas table (xarray and polars have to_numpy)
        def __init__(self, values):
            self.values = np.asarray(values)

        def __array__(self, dtype=None, copy=None):
            return self.values if dtype is None else self.values.astype(dtype)

        def to_numpy(self):
            return self.values

    model = dn.Sequential(dn.Dense(2, 1), seed=0)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert_array_equal(model.predict(Table(X)), model.predict(X))


def test_pandas_nullable_columns_are_taken_when_complete_and_named_when_not():
    pd = pytest.importorskip("pandas")
    model = mlp((2, 3, 1))
    complete = pd.DataFrame({"weight": pd.array([1, 2, 3, 4], dtype="Int64"), "height": [0.5, 1.5, 2.5, 3.5]})
    assert_array_equal(model.predict(complete), model.predict(complete.to_numpy(dtype=float)))
    y = pd.Series(pd.array([0.0, 1.0, 1.0, 0.0], dtype="Float64"), name="sex")
    model.fit(complete, y, epochs=1)
    holes = complete.astype({"weight": "Int64"})
    holes.loc[2, "weight"] = pd.NA
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"X has missing values \(NA\) in column\(s\) \['weight'\]"):
        model.predict(holes)
    with pytest.raises(ValueError, match=r"y has missing values \(NA\) in column\(s\) \['sex'\]"):
        model.fit(complete, y.where(y > 0, pd.NA))
    nan = complete.astype(float)
    nan.loc[1, "height"] = np.nan
    for given in (nan, nan.astype(np.float32), nan[["height"]]):  # (a float column's NaN is NA too)
        with pytest.raises(ValueError, match=r"X has missing values \(NA\) in column\(s\) \['height'\]"):
            model.predict(given)
    with pytest.raises(ValueError, match=r"y has missing values \(NA\) in column\(s\) \['sex'\]"):
        model.fit(complete, y.astype(float).where(y > 0))
    assert_array_equal(model.params, before)


def test_pandas_columns_of_dates_or_of_no_numbers_are_named():
    """pandas gives dates and durations as nanoseconds (2020 as 1.6e18), which a model would
    read silently: they are refused by column, as are columns of strings."""
    pd = pytest.importorskip("pandas")
    model = mlp((3, 3, 1))
    table = pd.DataFrame({"weight": [1.0, 2.0], "height": [3.0, 4.0]})
    before = model.params.copy()
    dated = r"must hold real numbers, got dates or durations in column\(s\) \['when'\]"
    for column in (pd.Timestamp("2020"), pd.Timestamp("2020", tz="UTC"), pd.Timedelta("1s")):
        with pytest.raises(TypeError, match=rf"^X {dated}; convert them to numbers first$"):
            model.predict(table.assign(when=column))
        with pytest.raises(TypeError, match=rf"^y {dated}"):
            model.fit(table.assign(more=0.0), pd.Series([column] * 2, name="when"))
    with pytest.raises(TypeError, match=r"^X must hold real numbers, got column\(s\) \['sex', 'when'\] of "
                                        r"dtype category, (object|str)$"):
        model.predict(table.assign(sex=pd.Categorical(["f", "m"]), when=["now", "then"]))
    with pytest.raises(TypeError, match=r"^y must hold real numbers, got dtype (object|str)$"):
        model.fit(table.assign(more=0.0), pd.Series(["f", "m"]))
    assert_array_equal(model.params, before)


def test_pandas_columns_of_text_are_refused_even_when_it_reads_as_numbers():
    """pandas converts text to floats where it can ("1.5" to 1.5), which NumPy's arrays of
    text do not: a column of text is refused by name whatever it holds, while a column of
    objects or of categories that are numbers is read as those numbers."""
    pd = pytest.importorskip("pandas")
    model = mlp((2, 3, 1))
    numbers = pd.DataFrame({"weight": [1.0, 2.0], "height": [3.0, 4.0]})
    before = model.params.copy()
    for text in (["1.5", "2"], pd.array(["1.5", "2"], dtype="string"), pd.Series(["1.5", "2"], dtype=object),
                 pd.Series([1.5, b"2"], dtype=object), pd.Categorical(["1.5", "2"]),
                 np.array([b"1.5", b"2"])):  # (a Series of bytes keeps NumPy's dtype S3)
        refused = r"must hold real numbers, got column\(s\) \['{}'\] of dtype "
        with pytest.raises(TypeError, match="^X " + refused.format("height")):
            model.predict(numbers.assign(height=text))
        with pytest.raises(TypeError, match="^y " + refused.format("sex")):
            model.fit(numbers, pd.Series(text, name="sex"))
        with pytest.raises(TypeError, match=r"^y must hold real numbers, got dtype "):
            model.fit(numbers, pd.Series(text))
    assert_array_equal(model.params, before)
    expected = model.predict(numbers)
    for same in (pd.Series([3.0, 4], dtype=object), pd.Categorical([3.0, 4.0]),
                 pd.Series([3, np.float32(4)], dtype=object)):
        assert_array_equal(model.predict(numbers.assign(height=same)), expected)


def test_a_pandas_column_of_an_integer_beyond_float64_is_named():
    """An object column may hold a Python int no float holds, which pandas' conversion
    refuses with an ``OverflowError`` naming nothing."""
    pd = pytest.importorskip("pandas")
    model = mlp((2, 3, 1))
    table = pd.DataFrame({"weight": [1.0, 2.0], "height": pd.Series([3, 10**400], dtype=object)})
    before = model.params.copy()
    beyond = r"holds an integer beyond float64's range"
    with pytest.raises(ValueError, match=rf"^X {beyond} in column\(s\) \['height'\]$"):
        model.predict(table)
    with pytest.raises(ValueError, match=rf"^y {beyond} in column\(s\) \['height'\]$"):
        model.fit(np.ones((2, 2)), table["height"])
    with pytest.raises(ValueError, match=rf"^y {beyond}$"):
        model.fit(np.ones((2, 2)), table["height"].rename(None))
    with pytest.raises(TypeError, match=r"^X must hold real numbers, got column\(s\) \['weight'\] of dtype "
                                        r"object$"):  # (beside a column of no numbers: that one named)
        model.predict(table.assign(weight=pd.Series([1.0, 2j], dtype=object)))
    assert_array_equal(model.params, before)


def test_pandas_sparse_columns_are_taken_as_their_values():
    """A sparse column's dtype has a kind of number but no NumPy dtype: it is read through
    pandas' conversion to floats."""
    pd = pytest.importorskip("pandas")
    model = mlp((2, 3, 1))
    table = pd.DataFrame({"rare": pd.arrays.SparseArray([0.0, 1.0, 0.0]), "often": [1.0, 2.0, 3.0]})
    assert_array_equal(model.predict(table), model.predict(table.to_numpy(dtype=float)))


def test_an_unnamed_pandas_series_names_its_first_missing_value():
    pd = pytest.importorskip("pandas")
    model, X, y = mlp((2, 3, 1)), np.ones((4, 2)), np.zeros(4)
    before = model.params.copy()
    for weights in (pd.Series([1.0, 1.0, np.nan, np.nan]),
                    pd.Series(pd.array([1, 1, None, None], dtype="Int64"))):
        with pytest.raises(ValueError, match=r"^sample_weight has 2 missing value\(s\) \(NA\), the first at "
                                             r"index 2; fill or drop them first$"):
            model.fit(X, y, sample_weight=weights)
    assert_array_equal(model.params, before)


@pytest.mark.parametrize("loss", [dn.CrossEntropyLoss(), dn.NLLLoss()], ids=["ce", "nll"])
def test_missing_class_labels_are_named_as_missing(loss):
    """pandas gives a column of labels with NA as floats with NaN (or objects), which were
    refused as labels that are not integers (``got dtype float64``), with a hint that did not
    fit (``labels of another kind``), naming no missing value; the same for evaluate, for a
    metric's labels and for NumPy labels holding NaN (a row left out of a CSV file)."""
    pd = pytest.importorskip("pandas")
    last = [dn.LogSoftmax()] if isinstance(loss, dn.NLLLoss) else []
    model = dn.Sequential(dn.Dense(2, 3), *last, seed=0)
    X, before = np.zeros((4, 2)), model.params.copy()
    unnamed = r"^y has 2 missing value\(s\) \(NA\), the first at index 1; fill or drop them first$"
    for labels in (pd.Series(pd.array([0, None, 2, None], dtype="Int64")),
                   pd.Series([0.0, np.nan, 2.0, np.nan]), pd.Series([0, None, 2, None], dtype=object)):
        with pytest.raises(ValueError, match=unnamed):
            model.fit(X, labels, loss=loss)
        with pytest.raises(ValueError, match=unnamed):
            model.evaluate(X, labels, loss)
    named = pd.Series(pd.array([0, 1, None, 2], dtype="Int64"), name="species")
    with pytest.raises(ValueError, match=r"^y has missing values \(NA\) in column\(s\) \['species'\]; fill"):
        model.fit(X, named, loss=loss)
    with pytest.raises(ValueError, match=rf"^{type(loss).__name__}: y_true has missing values \(NA\) in "
                                         r"column\(s\) \['species'\]"):
        loss.forward(np.zeros((4, 3)), named)
    with pytest.raises(ValueError, match=r"^Accuracy: y_true has missing values \(NA\) in column\(s\) "
                                         r"\['species'\]"):
        dn.Accuracy().update(np.zeros((4, 3)), named)
    with pytest.raises(TypeError, match=r"class labels y must be integers, got dtype float64 \(2 NaN, the "
                                        r"first at index 1: missing labels\? fill or drop them"):
        model.fit(X, np.array([0.0, np.nan, 2.0, np.nan]), loss=loss)
    assert_array_equal(model.params, before)
    model.fit(X, pd.Series(pd.array([0, 1, 2, 1], dtype="Int64"), name="species"), loss=loss)  # complete


def test_masked_values_are_named_and_a_masked_array_without_them_is_taken():
    """A masked array's masked values are missing values, as pandas' NA are: NumPy's view
    of it holds whatever lies under the mask, which no model should read silently."""
    model = mlp((2, 3, 1))
    X = np.ma.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                    mask=[[False, False], [False, True], [False, False]])
    y = np.ma.array([[0.0], [1.0], [0.5]], mask=[[False], [False], [True]])
    clear = np.ma.array(X.data, mask=False)
    assert_array_equal(model.predict(clear), model.predict(X.data))
    before = model.params.copy()
    for call, name, where in [(lambda: model.predict(X), "X", "(1, 1)"),
                              (lambda: model.evaluate(X, y.data), "X", "(1, 1)"),
                              (lambda: model.fit(X.data, y, epochs=1), "y", "(2, 0)"),
                              (lambda: model.fit(X, y, epochs=1), "X", "(1, 1)")]:
        message = (rf"{name} is a masked array with 1 masked value\(s\), the first at index "
                   rf"{re.escape(where)}; fill them \({name}\.filled\(value\)\) or drop them")
        with pytest.raises(ValueError, match=message):
            call()
    assert_array_equal(model.params, before)


def test_masked_class_labels_are_named():
    logits = np.array([[1.0, 0.0], [0.0, 1.0]])
    labels = np.ma.array([0, 1], mask=[False, True])
    with pytest.raises(ValueError, match=r"y_true is a masked array with 1 masked value\(s\), the first at "
                                         r"index \(1,\)"):
        dn.CrossEntropyLoss().forward(logits, labels)
    with pytest.raises(ValueError, match=r"y_true is a masked array with 1 masked value"):
        dn.Accuracy()(logits, labels)
    assert dn.Accuracy()(logits, np.ma.array([0, 1], mask=False)) == 1.0


@pytest.mark.parametrize("width", [59, 60, 61])
def test_a_value_shown_in_a_message_is_cut_to_60_characters(width):
    """``repr`` up to 60 characters as it is; a longer one cut to 57 and "..."."""
    from densenet._validation import shown

    value = "x" * (width - 2)  # (its repr adds the quotes)
    assert shown(value) == (repr(value) if width <= 60 else repr(value)[:57] + "...")
    assert len(shown(value)) == min(width, 60)


class DrawsNothing(dn.Module):
    """A module whose ``reset_parameters`` fails: the model it is in cannot be made."""

    def param_shapes(self):
        return ((3,),)

    def param_views(self, blocks):
        return {"w": blocks[0]}

    def reset_parameters(self, rng):
        raise RuntimeError("no draw")

    def forward(self, X):
        return X


def test_a_model_that_cannot_be_made_leaves_its_modules_as_they_were():
    """A module's ``reset_parameters`` (or a view) failing while the model is made: the
    modules belong to no model, hold their own values again, and join the next one."""
    dense = dn.Dense(2, 3)
    dense.W = np.arange(6.0).reshape(2, 3)
    W, flat = dense.W.copy(), dense.flat_params
    with pytest.raises(RuntimeError, match="no draw"):
        dn.Sequential(dense, DrawsNothing(), dtype=np.float32)
    assert not dense.in_model
    assert_array_equal(dense.W, W)
    assert dense.flat_params is flat
    model = dn.Sequential(dense, dn.ReLU(), seed=0)
    assert dense.in_model
    assert np.shares_memory(dense.W, model.params)


#: a setting that a model in float32 holds as a float32 number, beyond its range (or, for
#: Softplus's beta, 0 in it): refused by the block's name, with no warning of the cast
BEYOND_FLOAT32 = {
    "BatchNorm1d eps": (lambda: [dn.BatchNorm1d(4, eps=1e39)], None, r"eps=1e\+39 is beyond float32's range"),
    "LayerNorm eps": (lambda: [dn.LayerNorm(4, eps=1e39)], None, r"eps=1e\+39 is beyond float32's range"),
    "Softplus beta": (lambda: [dn.Softplus(beta=1e39)], None,
                      r"Softplus\(beta=1e\+39\): beta=1e\+39 is beyond"),
    "Softplus small beta": (lambda: [dn.Softplus(beta=1e-50)], None, r"beta=1e-50 is 0 in float32"),
    "Softplus threshold": (lambda: [dn.Softplus(threshold=-1e39)], None,
                           r"threshold=-1e\+39 is beyond float32"),
    # (Adam adds eps times sqrt(1 - b2**t): 0.0316 at the first step, but 1 as the steps go on)
    "Adam eps": (lambda: [dn.ReLU()], lambda: dn.Adam(eps=1e39),
                 r"^Adam: eps=1e\+39 is beyond float32's range \(the parameters' dtype\); its size must "
                 r"be at most 3.403e\+38 \(np.finfo\(float32\).max\)$"),
    "RMSprop eps": (lambda: [dn.ReLU()], lambda: dn.RMSprop(eps=1e39), r"^RMSprop: eps=1e\+39 is beyond"),
    "Adagrad start": (lambda: [dn.ReLU()], lambda: dn.Adagrad(initial_accumulator_value=1e39),
                      r"^Adagrad: initial_accumulator_value=1e\+39 is beyond float32's range"),
}


@pytest.mark.parametrize("case", BEYOND_FLOAT32)
def test_a_setting_beyond_the_range_of_the_model_s_dtype_is_refused_before_any_change(case):
    """NumPy warned of an overflow in a cast (an error, under ``-W error``) and the block then
    held inf; float64 holds the same setting."""
    make, optimizer, message = BEYOND_FLOAT32[case]
    X, y = np.random.default_rng(0).standard_normal((8, 4)), np.ones((8, 1))
    model = dn.Sequential(dn.Dense(4, 4), *make(), dn.Dense(4, 1), dtype=np.float32, seed=0)
    before = model.params.copy(), model.state.copy()
    runs = [lambda: model.fit(X, y, optimizer=None if optimizer is None else optimizer(), epochs=1)]
    if optimizer is None:
        runs += [lambda: model.predict(X), lambda: model.forward(X)]
    for run in runs:
        with np.errstate(all="raise"), pytest.raises(ValueError, match=message):
            run()
        assert_array_equal(model.params, before[0])
        assert_array_equal(model.state, before[1])
    twin = dn.Sequential(dn.Dense(4, 4), *make(), dn.Dense(4, 1), seed=0)
    twin.fit(X, y, optimizer=None if optimizer is None else optimizer(), epochs=1)
    assert np.isfinite(twin.params).all()


def test_a_batchnorm_eps_beyond_float32_leaves_a_float64_model_unwarned():
    """The module keeps its eps in both dtypes; float32's copy of 1e39 is inf, unused here."""
    with np.errstate(all="raise"):
        model = dn.Sequential(dn.Dense(2, 3), dn.BatchNorm1d(3, eps=1e39), seed=0)
        model[1].eps = 1e300
    assert np.isfinite(model.predict(np.ones((2, 2)))).all()


def test_a_prelu_start_beyond_the_range_of_the_model_s_dtype_is_refused_when_the_model_is_made():
    prelu = dn.PReLU(init=-1e39)
    with np.errstate(all="raise"), pytest.raises(ValueError, match=r"^PReLU: init=-1e\+39 is beyond "
                                                                      r"float32's "
                                                                      r"range \(the model's dtype\)"):
        dn.Sequential(dn.Dense(2, 3), prelu, dtype=np.float32)
    assert not prelu.in_model
    assert dn.Sequential(dn.Dense(2, 3), prelu).params[-1] == -1e39


def test_the_largest_number_of_the_model_s_dtype_is_held():
    """The range's end is in it: float32's largest number is a setting a float32 model keeps."""
    largest = float(np.finfo(np.float32).max)
    X = np.random.default_rng(0).standard_normal((8, 4))
    with np.errstate(all="raise"):
        model = dn.Sequential(dn.Dense(4, 4), dn.LayerNorm(4, eps=largest), dn.Softplus(threshold=-largest),
                              dn.Dense(4, 1), dtype=np.float32, seed=0)
        model.fit(X, np.ones((8, 1)), optimizer=dn.Adagrad(initial_accumulator_value=largest), epochs=1)
        prelu = dn.Sequential(dn.Dense(4, 4), dn.PReLU(init=-largest), dtype=np.float32, seed=0)[1]
    assert np.isfinite(model.params).all()
    assert prelu.a[0] == -largest


#: what each public class needs to be made, beside the setting tried
NEEDED = {"in_features": 3, "out_features": 4, "num_features": 3, "normalized_shape": 3, "epochs": 3,
          "step_size": 1, "milestones": [1, 2], "max_lr": 0.1, "total_steps": 16, "path": NOWHERE}


def _settings():
    """(class, setting, kind) for every number a public class is made with: its annotation
    names ``float`` or ``int``."""
    for name in dn.__all__:
        cls = getattr(dn, name)
        if not isinstance(cls, type) or issubclass(cls, BaseException) or name in ("History", "LRFind"):
            continue
        for parameter in inspect.signature(cls).parameters.values():
            kinds = {"float", "int"} & set(str(parameter.annotation).split(" | "))
            if kinds and parameter.name != "optimizer":
                yield pytest.param(cls, parameter.name, kinds.pop(), id=f"{name}.{parameter.name}")


def _made(cls, setting, value):
    arguments = {p.name: NEEDED.get(p.name, 1) for p in inspect.signature(cls).parameters.values()
                 if p.default is p.empty and p.name != setting}
    if "optimizer" in arguments:
        arguments["optimizer"] = dn.SGD(0.1, momentum=0.5)
    return cls(**arguments, **{setting: value})


@pytest.mark.parametrize("cls, setting, kind", list(_settings()))
def test_a_setting_no_number_type_holds_is_refused_by_the_class_s_name(cls, setting, kind):
    """A Python int beyond float's range (``float()`` raises ``OverflowError``) where a real
    number is taken; one beyond NumPy's int64 where a count is; nan and a fraction: each a
    ``ValueError`` or ``TypeError`` naming the class made (``F1Score``'s settings named
    ``Accuracy``, whose checks they share)."""
    values = [10**400, -10**400, float("nan")] if kind == "float" else [2**63, -2**63 - 1, 1.5]
    for value in values:
        with pytest.raises((ValueError, TypeError), match=rf"^{cls.__name__}\b"):
            _made(cls, setting, value)


def test_a_module_too_large_for_numpy_is_named():
    """NumPy's own words ("Maximum allowed dimension exceeded") named no module."""
    with pytest.raises(ValueError, match=r"^Dense\(in_features=4611686018427387904, out_features=4\): cannot "
                                         r"hold its 18,446,744,073,709,551,620 parameters: "):
        dn.Dense(2**62, 4)


def test_numbers_beyond_every_range_are_shown_and_taken_as_infinite():
    """An int of more digits than Python turns into text (4,300) is shown by its size; one
    beyond float's range is inf (of its sign) to the checks, where ``float()`` raises."""
    from densenet._validation import as_float, real_number, shown

    if hasattr(sys, "get_int_max_str_digits"):  # (Python 3.10.7 and later limit an int's text)
        assert shown(10**5000) == "an integer of 16610 bits"
    assert shown(10**400).endswith("...")
    assert (as_float(10**400), as_float(-10**400), as_float(3)) == (np.inf, -np.inf, 3.0)
    assert real_number(-10**400) == -np.inf
    with pytest.raises(ValueError, match=r"^Accuracy: invalid threshold inf; it must lie in \(-inf, inf\)$"):
        dn.Accuracy(threshold=np.inf)


@pytest.mark.parametrize("given", [np.array(["min", "max"]), [], {}], ids=["array", "list", "dict"])
@pytest.mark.parametrize("make, message", [
    (lambda v: dn.AUC(average=v), r"^AUC: average must be one of"),
    (lambda v: dn.AUC(classes=v), r"^AUC: classes must be None"),
    (lambda v: dn.F1Score(average=v), r"^F1Score: average must be one of"),
    (lambda v: dn.EarlyStopping(mode=v), r"^EarlyStopping: mode must be 'auto', 'min' or 'max', got"),
    (lambda v: dn.ModelCheckpoint("model.npz", mode=v), r"^ModelCheckpoint: mode must be"),
    (lambda v: dn.ReduceLROnPlateau(dn.SGD(0.1), mode=v), r"^ReduceLROnPlateau: mode must be"),
    (lambda v: dn.ReduceLROnPlateau(dn.SGD(0.1), threshold_mode=v),
     r"^ReduceLROnPlateau: threshold_mode must be"),
    (lambda v: dn.OneCycleLR(dn.SGD(0.1), 0.1, 10, anneal_strategy=v),
     r"^OneCycleLR: anneal_strategy must be"),
])
def test_a_choice_given_an_array_a_list_or_a_dict_is_refused_by_name(make, message, given):
    """``value not in options`` compared an array elementwise ("The truth value of an array
    with more than one element is ambiguous") and could not hash a list or a dict."""
    with pytest.raises(ValueError, match=message):
        make(given)


def _named(kind):
    """The public subclasses of ``kind``."""
    found = [getattr(dn, n) for n in dn.__all__]
    return [cls for cls in found if inspect.isclass(cls) and issubclass(cls, kind) and cls is not kind]


def _called_pair(cls):
    """Outputs and targets ``cls()`` takes: class scores with labels, or numbers of one shape."""
    scores = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    if cls in (dn.CrossEntropyLoss, dn.NLLLoss, dn.Accuracy, dn.ClassCounts, dn.F1Score, dn.Precision,
               dn.Recall):
        return scores, np.array([0, 1, 2, 0])
    return scores, np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])


def _scorer(cls):
    return cls(classes="probabilities") if cls is dn.AUC else cls()


METRICS = [cls for cls in _named(dn.Metric) if cls is not dn.ClassCounts]  # (a base: its subclasses score)
SCORERS = _named(dn.Loss) + METRICS


@pytest.mark.parametrize("weight, error, message", [
    (-np.ones(4), ValueError, r"sample_weight must be >= 0"),
    (np.ones(3), ValueError, r"sample_weight must be 1-D with one weight per sample"),
    (["a"] * 4, TypeError, r"sample_weight must hold real numbers"),
    ([[1.0], [1.0, 2.0], [1.0], [1.0]], ValueError, r"sample_weight is not a rectangular array"),
], ids=["negative", "length", "strings", "ragged"])
@pytest.mark.parametrize("cls", SCORERS, ids=lambda c: c.__name__)
def test_a_loss_or_metric_called_with_bad_weights_names_itself(cls, weight, error, message):
    scorer = _scorer(cls)
    y_pred, y_true = _called_pair(cls)
    with pytest.raises(error, match=f"^{cls.__name__}: {message}"):
        scorer(y_pred, y_true, sample_weight=weight)


@pytest.mark.parametrize("cls", SCORERS, ids=lambda c: c.__name__)
def test_a_loss_or_metric_called_with_ragged_targets_names_itself(cls):
    scorer = _scorer(cls)
    y_pred, _ = _called_pair(cls)
    with pytest.raises(ValueError, match=f"^{cls.__name__}: y_true is not a rectangular array"):
        scorer(y_pred, [[0, 1], [1], [2], [0]])


@pytest.mark.parametrize("cls", METRICS, ids=lambda c: c.__name__)
def test_a_metric_s_refused_update_leaves_its_totals(cls):
    metric = _scorer(cls)
    y_pred, y_true = _called_pair(cls)
    metric.update(y_pred, y_true)
    before = metric.result()
    with pytest.raises(ValueError):
        metric.update(y_pred, y_true, sample_weight=-np.ones(4))
    assert metric.result() == before


def _saved(tmp_path):
    path = tmp_path / "m.npz"
    mlp((2, 3, 1)).save(path)
    return path


@pytest.mark.parametrize("call, name", [
    (lambda m, tmp: m.fit(X_OK, Y_OK, optimizer=dn.SGD), "SGD"),
    (lambda m, tmp: m.fit(X_OK, Y_OK, loss=dn.MSELoss), "MSELoss"),
    (lambda m, tmp: m.evaluate(X_OK, Y_OK, loss=dn.MSELoss), "MSELoss"),
    (lambda m, tmp: m.fit(X_OK, Y_OK, metrics=[dn.MeanAbsoluteError]), "MeanAbsoluteError"),
    (lambda m, tmp: m.fit(X_OK, Y_OK, callbacks=[dn.EarlyStopping]), "EarlyStopping"),
    (lambda m, tmp: dn.StepLR(dn.SGD, 1), "SGD"),
    (lambda m, tmp: dn.lr_find(m, X_OK, Y_OK, optimizer=dn.Adam), "Adam"),
    (lambda m, tmp: m.save(tmp / "unused.npz", optimizer=dn.SGD), "SGD"),
    (lambda m, tmp: dn.load(_saved(tmp), optimizer=dn.SGD), "SGD"),
    (lambda m, tmp: dn.gradcheck(m, X_OK, Y_OK, loss=dn.MSELoss), "MSELoss"),
    (lambda m, tmp: dn.ModelCheckpoint(tmp / "unused.npz", schedules=[dn.StepLR]), "StepLR"),
    (lambda m, tmp: m.save(tmp / "unused.npz", schedules=[dn.EarlyStopping]), "EarlyStopping"),
], ids=["fit optimizer", "fit loss", "evaluate loss", "fit metric", "fit callback", "schedule optimizer",
        "lr_find optimizer", "save optimizer", "load optimizer", "gradcheck loss", "checkpoint schedule",
        "save schedule"])
def test_a_class_given_for_an_instance_is_named_with_the_fix(call, name, tmp_path):
    """``optimizer=dn.SGD`` for ``dn.SGD(0.1)``: was "got type" or "got type <class
    'densenet.sgd.SGD'>"; ``Sequential`` already said "got the class Sigmoid"."""
    model = mlp((2, 3, 1))
    before = state(model)
    with pytest.raises(TypeError, match=rf"got the class {name}: pass an instance, {name}\(\.\.\.\)"):
        call(model, tmp_path)
    assert_array_equal(state(model)[0], before[0])
    assert not (tmp_path / "unused.npz").exists()


def test_an_object_given_for_an_instance_is_named_by_its_type():
    with pytest.raises(TypeError, match=r"^StepLR: optimizer must be a densenet Optimizer, got str$"):
        dn.StepLR("sgd", 1)
    with pytest.raises(TypeError, match=r"^optimizer must be a densenet Optimizer \(such as "
                                        r"dn.SGD\(lr=0.1\)\), got str 'sgd'$"):
        mlp((2, 3, 1)).fit(X_OK, Y_OK, optimizer="sgd")
