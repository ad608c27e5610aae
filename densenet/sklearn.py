"""scikit-learn estimators: ``DenseNetClassifier`` and ``DenseNetRegressor``.

Needs the ``sklearn`` extra (``pip install 'densenet[sklearn]'``); importing this
module imports scikit-learn, nothing else in densenet does. The estimators take
the parameters of scikit-learn's ``MLPClassifier``/``MLPRegressor`` where they
play the same part, pass scikit-learn's estimator checks, and work in pipelines,
searches and cross-validation, in joblib worker processes too (their models copy
and pickle whole). ``model_`` is the trained ``densenet.Sequential``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:
    import sklearn
except ImportError:
    raise ImportError("densenet.sklearn needs scikit-learn: pip install 'densenet[sklearn]'") from None
try:  # (validate_data: scikit-learn 1.6)
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:
    found = sklearn.__version__
    raise ImportError(f"densenet.sklearn could not import what it needs from scikit-learn {found} "
                      "(it needs 1.6 or newer: pip install 'densenet[sklearn]')") from error

from ._validation import flag, hyperparameter, non_negative, one_of, positive_int, sample_weights, shown, warn
from .adam import Adam
from .backend import expit, log_expit, log_softmax, underflow_ignored
from .bce_with_logits import BCEWithLogitsLoss
from .callbacks import Callback
from .cross_entropy import CrossEntropyLoss
from .dense import Dense
from .lbfgs import LBFGS
from .model import Sequential
from .module import Module
from .mse import MSELoss
from .optimizer import Optimizer
from .poisson import PoissonNLLLoss
from .relu import ReLU
from .sgd import SGD
from .sigmoid import Sigmoid
from .softmax import Softmax
from .tanh import Tanh
from .training import DivergenceError, History

if TYPE_CHECKING:
    from typing_extensions import Self  # (typing's own from Python 3.11)

ACTIVATIONS = {"relu": ReLU, "logistic": Sigmoid, "tanh": Tanh, "identity": None}
SOLVERS = ("adam", "sgd", "lbfgs")
RATES = ("constant", "invscaling", "adaptive")  # learning-rate schedules of the "sgd" solver
REGRESSION_LOSSES = ("squared_error", "poisson")


#: The SciPy sparse formats the estimators take as they are (others are converted to CSR):
#: the network's first layer multiplies a batch of rows as they are (``Sequential.fit``, ``predict``).
SPARSE = ("csr", "csc", "coo")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _stochastic(estimator: _DenseNetEstimator) -> bool:
    """True if ``estimator``'s solver trains epoch by epoch; else ``AttributeError``: L-BFGS
    minimises the whole objective at once, and has no epoch for ``partial_fit`` to take."""
    if estimator.solver == "lbfgs":
        raise AttributeError(f"partial_fit is for the stochastic solvers ('adam', 'sgd'); "
                             f"{estimator.solver!r} minimises the whole objective at once")
    return True


def _if_stochastic(method: _Method) -> _Method:
    """``method`` there for the stochastic solvers alone, as the MLP's ``partial_fit``
    (scikit-learn's ``available_if``; ``hasattr`` says so), its signature kept for type
    checkers."""
    return cast(_Method, available_if(_stochastic)(method))


class _DenseNetEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, the fit."""

    #: the training loss of each epoch, and the samples seen, over every fit (set by the first)
    loss_curve_: list[float]
    t_: int
    #: the lowest training loss, and the validation scores and their best (set by the first fit)
    best_loss_: float | None
    validation_scores_: list[float] | None
    best_validation_score_: float | None

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __init__(self, hidden_layer_sizes: tuple[int, ...], activation: str, solver: str, alpha: float,
                 batch_size: int | str, learning_rate_init: float, max_iter: int, tol: float,
                 shuffle: bool, random_state: Any, warm_start: bool, momentum: float,
                 nesterovs_momentum: bool, early_stopping: bool, validation_fraction: float,
                 beta_1: float, beta_2: float, epsilon: float, n_iter_no_change: int,
                 learning_rate: str, power_t: float, max_fun: int, verbose: bool, dtype: str) -> None:
        # (no defaults: scikit-learn reads each estimator's own signature, whose defaults these are)
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_fun = max_fun
        self.verbose = verbose
        self.dtype = dtype

    # -- what the two estimators differ in
    #: What the outputs become for the loss and ``predict``, in the MLP's words.
    _out_activation = ""

    def _loss(self) -> Any:
        raise NotImplementedError

    @property
    def _loss_scale(self) -> float:
        """The gradient of ``model_``'s loss over the MLP's (against which the MLP's ``alpha``
        weighs): the MLP's is a mean over the rows of a sum over the outputs, the losses'
        here a mean over both (and the MLP's squared error is half of it)."""
        raise NotImplementedError

    @property
    def _loss_ratio(self) -> float:
        """``model_``'s loss over the loss the MLP reports (against which the MLP's ``tol``
        weighs): ``_loss_scale``, but for the squared error, which the MLP reports as half
        its mean over every output while it steps by half its sum over them."""
        return self._loss_scale

    def _targets(self, y: NDArray[Any], mode: str) -> NDArray[Any]:
        raise NotImplementedError

    def _n_outputs(self, y: NDArray[Any]) -> int:
        raise NotImplementedError

    def _check_weighting(self) -> None:
        """Check the estimator's own parameters that weigh the samples (a classifier's
        ``class_weight``); a ``ValueError`` names a bad one."""

    def _sample_weights(self, targets: NDArray[Any], mode: str) -> NDArray[Any] | None:
        """Each sample's weight from its encoded target under the estimator's own parameters
        (a classifier's ``class_weight``), or None: every sample 1."""
        return None

    def _own_parameters(self) -> dict[str, Any]:
        """The estimator's own parameters that set what the outputs mean, checked (a
        ``ValueError`` names a bad one): checked first at fit, kept by a warm start."""
        return {}

    # -- the shared parts
    def _check_parameters(self) -> None:
        self._own_parameters()
        self._check_weighting()
        if not one_of(self.activation, ACTIVATIONS):
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if not one_of(self.solver, SOLVERS):
            raise ValueError(f"solver must be one of {list(SOLVERS)}, got {self.solver!r}")
        if not one_of(self.learning_rate, RATES):
            raise ValueError(f"learning_rate must be one of {list(RATES)}, got {self.learning_rate!r}")
        self._sizes()
        # checked here, under the estimator's names, before anything is built
        owner = type(self).__name__
        positive_int(self.max_iter, f"{owner}: max_iter")
        for name in ("shuffle", "nesterovs_momentum", "early_stopping", "warm_start"):
            flag(getattr(self, name), owner, name)
        if not (isinstance(self.verbose, (bool, np.bool_))
                or isinstance(self.verbose, (int, np.integer)) and self.verbose >= 0):
            raise TypeError(f"{owner}: verbose must be True, False or an integer >= 0, "
                            f"got {shown(self.verbose)}")
        hyperparameter(self.validation_fraction, owner, "validation_fraction", high=1.0, high_open=True)
        if self.early_stopping and self.validation_fraction == 0:  # (in [0, 1) by now)
            raise ValueError(f"validation_fraction must be in (0, 1), got {shown(self.validation_fraction)}")
        hyperparameter(self.learning_rate_init, owner, "learning_rate_init", low_open=True)
        hyperparameter(self.alpha, owner, "alpha")
        hyperparameter(self.tol, owner, "tol")
        hyperparameter(self.momentum, owner, "momentum", high=1.0)
        hyperparameter(self.beta_1, owner, "beta_1", high=1.0, high_open=True)
        hyperparameter(self.beta_2, owner, "beta_2", high=1.0, high_open=True)
        hyperparameter(self.epsilon, owner, "epsilon", low_open=True)
        hyperparameter(self.power_t, owner, "power_t")
        positive_int(self.max_fun, f"{owner}: max_fun")
        stops = self.n_iter_no_change
        if not (isinstance(stops, (float, np.floating)) and stops == math.inf):
            # (inf: the stopping rule never stops, as the MLP's)
            positive_int(self.n_iter_no_change, f"{owner}: n_iter_no_change",
                         "an integer >= 1 or inf (never stop)")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            positive_int(self.batch_size, f"{owner}: batch_size", "'auto' or an integer >= 1")

    def _sizes(self) -> tuple[int, ...]:
        """``hidden_layer_sizes`` as a tuple (a single int is one layer; an empty one none,
        the inputs straight to the outputs); ``ValueError`` unless positive integers."""
        sizes = np.atleast_1d(np.asarray(self.hidden_layer_sizes, dtype=object))
        if sizes.ndim != 1 or not all(isinstance(size, (int, np.integer)) and not isinstance(size, bool)
                                      and size >= 1 for size in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return tuple(int(size) for size in sizes)

    def _network(self, n_in: int, n_out: int, seed: int) -> Sequential:
        activation = ACTIVATIONS[self.activation]
        init = "he_normal" if activation is ReLU else "glorot_uniform"
        modules: list[Module] = []
        width = n_in
        for size in self._sizes():
            modules.append(Dense(width, int(size), init=init))
            if activation is not None:
                modules.append(activation())
            width = int(size)
        modules.append(Dense(width, n_out))
        return Sequential(*modules, dtype=self.dtype, seed=seed)

    def _optimizer(self) -> Optimizer:
        """The solver for ``model_``: its weight decay is for the weights, not the biases (as the
        MLP's ``alpha``), and ``_fit`` sets it from ``alpha`` for each call's batches."""
        decay: dict[str, Any] = {"weight_decay": 0.0, "decay_mask": self.model_.decay_mask()}
        if self.solver == "lbfgs":  # the MLP's tolerance and limit
            return LBFGS(tolerance_grad=self.tol, max_eval=int(self.max_fun), **decay)
        if self.solver == "sgd":  # Nesterov's correction is nothing without momentum, as in the MLP
            return SGD(self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum) and self.momentum > 0, **decay)
        return Adam(self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon, **decay)

    def _architecture(self) -> dict[str, Any]:
        """The parameters that shape the network (a warm start or ``partial_fit`` keeps them)."""
        return {"hidden_layer_sizes": self._sizes(),
                "activation": self.activation, "dtype": np.dtype(self.dtype).name, **self._own_parameters()}

    def _check_architecture(self, mode: str) -> None:
        for name, value in self._architecture().items():
            if value != self._built[name]:
                raise ValueError(f"{type(self).__name__}: {mode}: {name} {value!r} is not the fitted "
                                 f"network's {self._built[name]!r}; fit with warm_start=False for a new one")

    @underflow_ignored
    def _fit(self, data: ArrayLike, target: ArrayLike, mode: str, epochs: int,
             incremental: bool = False, sample_weight: ArrayLike | None = None,
             given: dict[str, Any] | None = None) -> Self:
        """Validate, then build a network (``mode`` "new"), or check that the fitted one is
        what the parameters describe ("warm_start", "partial_fit"), and train ``epochs`` epochs
        (on every row when ``incremental``: no validation split), each sample's loss weighted
        by ``sample_weight``, after setting the attributes ``given`` (a classifier's first
        ``partial_fit``'s classes). Nothing changes before every check has passed: the
        attributes set until then (scikit-learn's data check sets ``n_features_in_`` before
        the targets are looked at) are put back."""
        kept = dict(self.__dict__)
        try:
            self.__dict__.update(given or {})
            X, targets, w, callbacks, batch = self._ready(data, target, mode, incremental, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(kept)
            raise
        try:
            history = self.model_.fit(X, targets, optimizer=self.optimizer_, loss=self.loss_function_,
                                      epochs=epochs, batch_size=batch,
                                      shuffle=bool(self.shuffle), seed=self.rng_, callbacks=callbacks,
                                      verbose=bool(self.verbose), sample_weight=w)
        except DivergenceError as error:  # the network keeps the epochs before it: counted
            self._count(error.history, X.shape[0])
            raise
        self._count(history, X.shape[0])
        if not history.epochs:  # L-BFGS's start met its tolerance: the loss where the weights stand
            self.loss_ = float(self.model_.evaluate(X, targets, loss=self.loss_function_, sample_weight=w))
        if not incremental:
            self._warn_unconverged()
        return self

    def _count(self, history: History, rows: int) -> None:
        """Add a fit's epochs of ``rows`` training rows, ``history``, to the estimator's counts."""
        self.loss_curve_ = [*self.loss_curve_, *history.loss.tolist()]
        self.n_iter_ = history.epochs  # (this call's, as the MLP's since scikit-learn 1.6)
        self.t_ += history.epochs * rows
        if history.epochs:
            self.loss_ = self.loss_curve_[-1]
            if self.best_loss_ is not None:  # (the stopping rule's already; L-BFGS has none)
                self.best_loss_ = min(self.best_loss_, *self.loss_curve_[-history.epochs:])

    def _ready(self, data: ArrayLike, target: ArrayLike, mode: str, incremental: bool,
               sample_weight: ArrayLike | None,
               ) -> tuple[Any, NDArray[Any], NDArray[Any] | None, list[Callback], int]:
        """``_fit``'s checks and set-up: the rows, targets and weights to train on, the
        callbacks and the batch size; the network built and the optimiser set."""
        self._check_parameters()
        first = mode == "new"
        if not first:
            self._check_architecture(mode)
        X, y = validate_data(self, data, target, reset=first, dtype=np.dtype(self.dtype), multi_output=True,
                             accept_sparse=SPARSE,
                             y_numeric=isinstance(self, RegressorMixin))
        targets = self._targets(y, mode)
        w = None if sample_weight is None else sample_weights(sample_weight, X.shape[0], X.dtype)
        weighted = self._sample_weights(targets, mode)
        if weighted is not None:  # times sample_weight, as scikit-learn's classifiers
            with np.errstate(over="ignore"):  # (a product beyond the float range: refused by name)
                product = weighted if w is None else w * weighted
            named = "class_weight" if w is None else "sample_weight times class_weight"
            w = sample_weights(product, X.shape[0], X.dtype, named)
        if mode == "warm_start":  # a new optimiser, as the MLP's; the epochs and curves go on
            self.optimizer_ = self._optimizer()
        if first:
            self._built = self._architecture()
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            self.rng_ = np.random.default_rng(seed)
            self.model_ = self._network(X.shape[1], self._n_outputs(targets), int(self.rng_.integers(2**31)))
            # kept: partial_fit reuses their planned steps and carries on the optimiser's state
            self.optimizer_, self.loss_function_ = self._optimizer(), self._loss()
            self.loss_curve_ = []
            self.n_iter_ = self.t_ = 0
            self.n_layers_ = len(self._sizes()) + 2
            self.n_outputs_ = self.model_.out_features
            self.out_activation_ = self._out_activation
            # (L-BFGS stops by its own tolerances: it watches no validation score, as the MLP's)
            watched = bool(self.early_stopping) and not self.optimizer_.full_batch
            self.best_loss_ = None if watched else math.inf
            self.validation_scores_ = [] if watched else None
            self.best_validation_score_ = -math.inf if watched else None
            self._epoch_end = _MLPEpochEnd(self, self._score)  # its counts carry on over later fits
        validation = None
        if self.early_stopping and not self.optimizer_.full_batch and not incremental and X.shape[0] >= 4:
            stratify = (targets if isinstance(self, ClassifierMixin)
                        and _stratifiable(targets, self.validation_fraction) else None)
            split = train_test_split(X, targets, *(() if w is None else (w,)),
                                     test_size=self.validation_fraction, stratify=stratify,
                                     random_state=int(self.rng_.integers(2**31)))
            X, X_val, targets, y_val = split[:4]
            w, w_val = (None, None) if w is None else split[4:]
            if w_val is not None and not w_val.any():  # a weighted score of nothing: score them plainly
                w_val = None
            validation = (X_val, y_val, w_val)
        callbacks: list[Callback] = []
        if not self.optimizer_.full_batch:  # L-BFGS stops by its own tolerances, as the MLP's
            callbacks.append(self._epoch_end.begin(X.shape[0], validation, self.tol * self._loss_ratio))
        batch = max(1, min(min(200, X.shape[0]) if self.batch_size == "auto" else int(self.batch_size),
                           X.shape[0]))
        rows = X.shape[0] if self.optimizer_.full_batch else batch  # (L-BFGS: a batch of every row)
        decay = self._decay(rows, w)
        if self.optimizer_.weight_decay != decay:  # (a setting set counts as changed, even to its value)
            self.optimizer_.weight_decay = decay
        rest = X.shape[0] % rows
        if rest and decay:
            callbacks.append(_LastBatchDecay(self.optimizer_, decay, self._decay(rest, w)))
        return X, targets, w, callbacks, batch

    def _decay(self, rows: int, w: NDArray[Any] | None) -> float:
        """The weight decay of a batch of ``rows`` rows: the MLP's penalty is ``alpha/2 |W|^2``
        over the sum of a batch's sample weights (its rows, unweighted), here a batch of the
        rows' mean weight ``w``, against a loss ``_loss_scale`` times the MLP's."""
        mean = 1.0 if w is None else float(np.mean(w))
        decay = self._loss_scale * self.alpha / (rows * mean if mean > 0 else rows)
        if not math.isfinite(decay):
            raise ValueError(f"{type(self).__name__}: alpha={self.alpha!r} over a batch's sample weights "
                             f"(their mean {mean!r}, the MLP's penalty) is beyond float's range; scale the "
                             "weights up")
        return decay

    def _warn_unconverged(self) -> None:
        """A ``ConvergenceWarning`` where the MLP gives one: L-BFGS stopped short of its
        tolerance (its iterations or evaluations ran out), or the fit ran ``max_iter``
        epochs and the stopping rule did not stop it after the last."""
        name, limit = type(self).__name__, int(self.max_iter)
        result = self.optimizer_.result if isinstance(self.optimizer_, LBFGS) else None
        if result is not None:
            if result.status == 0:
                return
            at, bound = ((f" at max_iter={limit}", "raise max_iter, or ") if result.nit >= limit else
                         (f" at max_fun={self.max_fun} evaluations", "raise max_fun, or ")
                         ) if result.status == 1 else ("", "")
            message = (f"{name}: L-BFGS stopped after {result.nit} iteration(s){at} before it converged "
                       f"({result.message}); {bound}scale the inputs")
        elif self.n_iter_ == limit and not self._epoch_end.stopped:
            watched = "validation score" if self.validation_scores_ is not None else "training loss"
            message = (f"{name}: the epochs reached max_iter={limit} before training converged (its "
                       f"{watched} still improved by more than tol={self.tol:g} within "
                       f"n_iter_no_change={self.n_iter_no_change} epochs); raise max_iter, or fit on with "
                       "warm_start=True")
        else:
            return
        warn(message, ConvergenceWarning)

    def _score(self, X: NDArray[Any], targets: NDArray[Any], weights: NDArray[Any] | None = None) -> float:
        """The estimator's score of the model on encoded targets (accuracy, or R^2),
        weighted by ``weights``."""
        raise NotImplementedError

    @property
    def coefs_(self) -> list[NDArray[Any]]:
        """Each Dense layer's weights ``W``, ``(in, out)``: views into ``model_.params``."""
        return [layer.W for layer in self._dense_layers()]

    @property
    def intercepts_(self) -> list[NDArray[Any]]:
        """Each Dense layer's biases ``b``, ``(out,)``: views into ``model_.params``."""
        return [layer.b for layer in self._dense_layers()]

    def _dense_layers(self) -> list[Module]:
        check_is_fitted(self, "model_")
        return [layer for layer in self.model_ if layer.n_params]  # the network's only parameters

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Train a new network on ``(X, y)`` for at most ``max_iter`` epochs; with
        ``warm_start``, train the fitted one on (a new optimiser, the same classes).
        ``sample_weight`` ``(n_samples,)`` weighs each sample's loss as ``fit`` does
        (``Sequential.fit``: ``w / mean(w)`` over the training rows, so that the objective
        is the weighted mean ``sum(w l) / sum(w)``; the MLP normalises each batch by its
        own weights instead: the same in full-batch training), and with
        ``early_stopping`` the held-out rows keep their weights for the score."""
        # (a warm_start that is no flag is refused with the other parameters, in their order)
        warm = isinstance(self.warm_start, (bool, np.bool_)) and self.warm_start and hasattr(self, "model_")
        return self._fit(X, y, mode="warm_start" if warm else "new", epochs=self.max_iter,
                         sample_weight=sample_weight)

    @underflow_ignored
    def _outputs(self, X: ArrayLike) -> NDArray[Any]:
        check_is_fitted(self, "model_")
        # (either float dtype kept, others made the network's: it converts a batch at a time)
        floats = (np.dtype(self.dtype), np.float32, np.float64)
        X = validate_data(self, X, reset=False, dtype=floats, accept_sparse=SPARSE)
        return self.model_.predict(X)


def _stratifiable(labels: NDArray[Any], fraction: float) -> bool:
    """Whether a stratified split can hold out ``fraction`` of ``labels``: class labels
    (a multilabel indicator row is not a class, as for the MLP), every class has two
    members, and each side of the split has room for one of every class."""
    if labels.ndim != 1:
        return False
    counts = np.unique(labels, return_counts=True)[1]
    held_out = math.ceil(fraction * len(labels))  # as train_test_split counts it
    return bool(np.min(counts) >= 2 and len(counts) <= min(held_out, len(labels) - held_out))


#: held-out rows: ``X``, encoded targets and sample weights (or None)
Validation = tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]


def _set_rate(optimizer: Optimizer, lr: float) -> None:
    """Set the rate of the SGD of an MLP's ``"invscaling"`` or ``"adaptive"`` schedule to ``lr``
    between epochs, its velocity carried on as the MLP's. The MLP's velocity is a sum of steps,
    each gradient times the rate of its own step; SGD's momentum buffer is a sum of gradients,
    which the rate multiplies at each step: scaled by the old rate over the new, it makes the
    steps to come those of the MLP's velocity. (Not scaled, all the momentum took the new rate
    at once: ten epochs ended 31% to 76% of the weights' norm away from the MLP's.)"""
    before, optimizer.lr = optimizer.lr, lr
    state = optimizer.state_dict()
    if "momentum_buffer" in state and lr != before:  # (an epoch's end: a copy of the state is cheap)
        state["momentum_buffer"] *= before / lr
        optimizer.load_state_dict(state)


class _LastBatchDecay(Callback):
    """The MLP's ``alpha`` over each batch's own rows: an epoch's last batch, when it holds
    fewer rows than the others, takes the weight decay ``last`` for its step, the others
    ``full``. (Decayed as a full batch, ten epochs of 60 rows in batches of 16 ended 1% of the
    weights' norm from the MLP's with ``alpha=0.5``, 2e-6 with its default 1e-4.)"""

    #: the index of the batch before the last (set as each fit begins)
    before_last: int

    def __init__(self, optimizer: Optimizer, full: float, last: float) -> None:
        self.optimizer, self.full, self.last = optimizer, full, last

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.before_last = self.params["steps"] - 2

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if batch >= self.before_last:  # (the decay read by the step that follows)
            self.optimizer.weight_decay = self.last if batch == self.before_last else self.full


class _MLPEpochEnd(Callback):
    """What scikit-learn's MLP does after each epoch of its stochastic solvers, on the
    estimator's attributes: count the epochs that do not improve by ``tol`` (on the
    training loss ``best_loss_``, or with ``early_stopping`` on the validation score
    ``best_validation_score_``, keeping the best epoch's weights to end with), set the
    ``"invscaling"`` rate ``learning_rate_init / (t_ + 1) ** power_t``, and after more than
    ``n_iter_no_change`` such epochs stop, or with the ``"adaptive"`` rate divide it by 5
    and go on (stopping once it is at most 1e-6). One for an estimator's network: the
    count goes on over a warm start's or ``partial_fit``'s later fits, as the MLP's."""

    def __init__(self, estimator: _DenseNetEstimator,
                 score: Callable[[NDArray[Any], NDArray[Any], NDArray[Any] | None], float]) -> None:
        self.estimator, self.score = estimator, score
        self.no_improvement_count = 0
        self.rows, self.seen, self.loss_tol = 0, 0, 0.0
        self.validation: Validation | None = None
        self.best_params: NDArray[Any] | None = None
        #: whether the stopping rule stopped the last fit
        self.stopped = False

    def begin(self, rows: int, validation: Validation | None, loss_tol: float) -> _MLPEpochEnd:
        """Ready for a fit on ``rows`` training rows, scored on ``validation`` if given;
        ``loss_tol``: what the training loss must fall by (the MLP's ``tol`` for its loss)."""
        self.rows, self.validation, self.seen, self.best_params = rows, validation, self.estimator.t_, None
        self.loss_tol = loss_tol
        self.stopped = False
        return self

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> bool:
        est, optimizer = self.estimator, self.estimator.optimizer_
        self.seen += self.rows
        self.no_improvement_count = 0 if self._improved(est, logs) else self.no_improvement_count + 1
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":
            _set_rate(optimizer, est.learning_rate_init / (self.seen + 1) ** est.power_t)
        if self.no_improvement_count <= est.n_iter_no_change:
            return False
        if sgd and est.learning_rate == "adaptive" and optimizer.lr > 1e-6:
            _set_rate(optimizer, optimizer.lr / 5.0)
            self.no_improvement_count = 0
            return False
        self.stopped = True
        return True

    def _improved(self, est: _DenseNetEstimator, logs: dict[str, float] | None) -> bool:
        """Whether this epoch improved by ``tol``; True where nothing is watched (early
        stopping asked for but without a validation set: ``partial_fit``, under 4 rows)."""
        if self.validation is not None and est.validation_scores_ is not None:
            score = self.score(*self.validation)
            est.validation_scores_.append(score)
            best = est.best_validation_score_ if est.best_validation_score_ is not None else -math.inf
            if score > best:
                est.best_validation_score_ = score
                self.best_params = self.model.params.copy()
            return not score < best + est.tol
        if est.best_loss_ is None or logs is None:
            return True
        loss, best = logs["loss"], est.best_loss_
        est.best_loss_ = min(best, loss)
        return not loss > best - self.loss_tol

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.best_params is not None:
            self.model.params[...] = self.best_params


class DenseNetClassifier(ClassifierMixin, _DenseNetEstimator):
    """A densenet network as a scikit-learn classifier.

    The recipe: ``hidden_layer_sizes`` Dense layers, each followed by ``activation``
    (``"relu"`` with He initialisation by default, or ``"logistic"``, ``"tanh"``,
    ``"identity"`` with Glorot), a Dense output layer of one logit per class,
    softmax cross-entropy (``CrossEntropyLoss``) on the encoded labels, and
    ``solver``: ``"adam"`` (default, ``Adam(learning_rate_init, betas=(beta_1,
    beta_2), eps=epsilon)``), ``"sgd"`` (``SGD(learning_rate_init, momentum)``,
    Nesterov's with ``nesterovs_momentum``, at the ``learning_rate`` schedule:
    ``"constant"``, ``"invscaling"`` or ``"adaptive"`` as the MLP's) or ``"lbfgs"``
    (``LBFGS(tolerance_grad=tol, max_eval=max_fun)``). ``alpha`` is the MLP's: its
    penalty ``alpha/2 |W|^2`` on the weights, not the biases, over each batch's rows (each
    sample counting its weight; for L-BFGS every row), which the optimiser applies as its
    weight decay (``decay_mask=model.decay_mask()``): ``alpha`` divided by a batch's rows
    times the samples' mean weight, times what the loss here is to the MLP's (1 for the
    classifier's cross-entropy, ``1/n_labels`` for multilabel). Ten epochs of SGD from
    the same start end where the MLP's do (to 1e-10; with momentum too, whose velocity
    carries on over the ``"invscaling"`` and ``"adaptive"`` rates' changes as the MLP's, and
    with an epoch's last batch smaller than the others, decayed by ``alpha`` over its own
    rows as the MLP's). Adam adds its ``epsilon`` to the bias-corrected root, as
    ``Adam`` does, where the MLP adds it before the correction.
    Training stops as the MLP's does: after ``max_iter`` epochs, or after more than
    ``n_iter_no_change`` epochs in a row that do not improve the training loss by
    ``tol``, or with ``early_stopping`` the accuracy on a held-out
    ``validation_fraction`` (stratified; from 4 samples on, and not in
    ``partial_fit`` nor for L-BFGS), ending with the weights of its best epoch. With ``warm_start``,
    ``fit`` trains the fitted network on (with a new optimiser, as the MLP does)
    instead of a new one; it refuses other classes, features, layer sizes,
    activation or dtype. The same ``random_state`` gives bit-identical results;
    ``dtype`` is ``"float64"`` or ``"float32"``.

    ``class_weight`` (which scikit-learn's MLP lacks) is scikit-learn's: None (every class
    1), ``"balanced"`` (``n_samples / (n_classes * count)`` for each class in ``y``) or a
    dict ``{label: weight}`` (1 for a class it leaves out); each sample's weight is its
    class's times its ``sample_weight``, as in scikit-learn's linear classifiers
    (``compute_sample_weight``). It weighs the training loss, and with ``early_stopping``
    the held-out accuracy too.
    ``partial_fit`` takes a dict, not ``"balanced"`` (its weights would change from one
    call to the next), as scikit-learn's ``SGDClassifier``; a multilabel ``y`` takes
    ``sample_weight`` instead.

    A 2-D ``y`` of 0 and 1, ``(n_samples, n_labels)``, is a multilabel target, as in
    the MLP: one output per label, each label's probability the sigmoid of its logit,
    trained by binary cross-entropy on the logits (``BCEWithLogitsLoss``); ``predict``
    gives the indicator matrix of the labels whose probability is above 0.5, ``score``
    the subset accuracy (every label of a sample right), and ``classes_`` are the label
    indices ``0 .. n_labels - 1``. Its loss is a mean over the labels where the MLP's is
    a sum: ``tol`` weighs against the MLP's (an epoch improves when the loss here falls by
    ``tol / n_labels``).

    Attributes:
        classes_: the class labels; ``n_features_in_``; ``loss_curve_`` (the training
        loss per epoch, without ``alpha``'s decay); ``loss_`` (its last value, or the loss
        where the weights stand if L-BFGS's start met its tolerance: no iteration) and
        ``best_loss_`` (its lowest; None with ``early_stopping``); ``validation_scores_``
        and ``best_validation_score_`` (with ``early_stopping``, else None; with L-BFGS,
        which watches no score, as without ``early_stopping``);
        ``n_iter_`` (the epochs the last ``fit`` ran, 1 after ``partial_fit``); ``t_``
        (training rows seen, over every fit); ``coefs_`` and
        ``intercepts_`` (each Dense layer's ``W`` and ``b``, views into the model's
        parameters); ``n_layers_``, ``n_outputs_`` (one per class, two for two classes
        where the MLP has one; one per label) and ``out_activation_`` (``"softmax"``, or
        ``"logistic"`` for a multilabel target), as in scikit-learn's MLP;
        ``multilabel_``: whether the target was multilabel; ``model_``: the trained
        ``densenet.Sequential``;
        ``optimizer_`` and ``loss_function_``: its optimiser, whose state (Adam's
        moments) ``partial_fit`` carries on, and its loss.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = make_pipeline(StandardScaler(), DenseNetClassifier(
        ...     hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)).fit(X, y)
        >>> bool(clf.score(X, y) > 0.95), clf.predict_proba(X[:2]).shape
        (True, (2, 3))
    """

    classes_: NDArray[Any]
    #: Whether the fitted network's targets are an indicator matrix, one label per output.
    multilabel_ = False

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,), activation: str = "relu",
                 solver: str = "adam", alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate_init: float = 1e-3, max_iter: int = 200, tol: float = 1e-4,
                 shuffle: bool = True, random_state: Any = None, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, learning_rate: str = "constant",
                 power_t: float = 0.5, max_fun: int = 15000, verbose: bool = False,
                 dtype: str = "float64", class_weight: dict[Any, float] | str | None = None) -> None:
        # (as DenseNetRegressor's: the shared parameters again, then the classifier's own)
        super().__init__(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate_init,
                         max_iter, tol, shuffle, random_state, warm_start, momentum, nesterovs_momentum,
                         early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
                         learning_rate, power_t, max_fun, verbose, dtype)
        self.class_weight = class_weight

    def _check_weighting(self) -> None:
        weights, owner = self.class_weight, type(self).__name__
        if isinstance(weights, dict):
            for label, weight in weights.items():
                hyperparameter(weight, owner, f"class_weight[{label!r}]")
        elif not (weights is None or (isinstance(weights, str) and weights == "balanced")):
            raise ValueError(f"{owner}: class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                             f"got {weights!r}")

    def _sample_weights(self, targets: NDArray[Any], mode: str) -> NDArray[Any] | None:
        weights, owner = self.class_weight, type(self).__name__
        if weights is None:
            return None
        if self.multilabel_:
            raise ValueError(f"{owner}: class_weight weighs the classes of a multiclass y; for a multilabel "
                             "y (an indicator matrix) pass sample_weight")
        classes = self.classes_.tolist()
        if isinstance(weights, dict):
            unknown = [label for label in weights if label not in classes]
            if unknown:
                raise ValueError(f"{owner}: class_weight names labels {unknown} that are not classes "
                                 f"{classes}")
            of_class = np.array([float(weights.get(label, 1.0)) for label in classes])
        else:  # "balanced": n_samples / (n_classes * count) (fit's y holds every class)
            of_class = len(targets) / (len(classes) * np.bincount(targets, minlength=len(classes)))
        return of_class[targets]

    @property
    def _out_activation(self) -> str:  # type: ignore[override]
        return "logistic" if self.multilabel_ else "softmax"

    def _loss(self) -> Any:
        return BCEWithLogitsLoss() if self.multilabel_ else CrossEntropyLoss()

    @property
    def _loss_scale(self) -> float:  # (cross-entropy: a mean over the rows alone)
        return 1.0 / self.model_.out_features if self.multilabel_ else 1.0

    def _n_outputs(self, y: NDArray[Any]) -> int:
        return len(self.classes_)

    def _targets(self, y: NDArray[Any], mode: str) -> NDArray[Any]:
        if y.ndim == 2 and y.shape[1] > 1:
            return self._indicators(y, mode)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if mode != "new" and self.multilabel_:
            raise ValueError(f"{type(self).__name__}: {mode}: the fitted network's labels "
                             f"{self.classes_.tolist()} are not y's; it was fitted on a multilabel y")
        if mode == "warm_start" and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(f"{type(self).__name__}: warm_start: the fitted network's classes "
                             f"{self.classes_.tolist()} are not y's {np.unique(y).tolist()}; fit with "
                             "warm_start=False for a new network, or train on with partial_fit")
        if mode == "new" and self._classes_given is None:
            self.classes_ = np.unique(y)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        if mode == "new":
            self.multilabel_ = False
        return np.searchsorted(self.classes_, y)

    def _indicators(self, Y: NDArray[Any], mode: str) -> NDArray[Any]:
        """A multilabel target, an indicator matrix of 0 and 1 ``(n_samples, n_labels)``,
        as the loss's float targets; ``classes_`` are the label indices, as the MLP's."""
        owner = type(self).__name__
        if type_of_target(Y) != "multilabel-indicator" or not np.isin(Y, (0, 1)).all():
            raise ValueError(f"{owner}: y of shape {Y.shape} holds values other than 0 and 1: a 2-D y is "
                             "a multilabel indicator matrix (one column of 0 and 1 per label); "
                             "one multiclass target per column is not supported")
        labels = np.arange(Y.shape[1])
        if mode != "new" and not (self.multilabel_ and np.array_equal(labels, self.classes_)):
            fitted = (f"{len(self.classes_)} labels" if self.multilabel_
                      else f"classes {self.classes_.tolist()}")
            raise ValueError(f"{owner}: {mode}: the fitted network's {fitted} are not y's {len(labels)} "
                             "labels; fit with warm_start=False for a new network")
        if self._classes_given is not None and not np.array_equal(self._classes_given, labels):
            raise ValueError(f"{owner}: partial_fit: classes must be the label indices {labels.tolist()} "
                             f"for a multilabel y, got {self._classes_given.tolist()}")
        if mode == "new":
            self.classes_, self.multilabel_ = labels, True
        return np.asarray(Y, dtype=np.dtype(self.dtype))

    _classes_given: NDArray[Any] | None = None

    @_if_stochastic
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> Self:
        """One epoch on ``(X, y)`` (each sample's loss weighted by ``sample_weight``); the
        first call needs ``classes``, every label there will be."""
        first = not hasattr(self, "model_")
        self._check_weighting()
        if self.class_weight == "balanced":
            raise ValueError(f"{type(self).__name__}: class_weight 'balanced' is not supported by "
                             "partial_fit (each call's weights would be its own); pass a dict of weights")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        labels = None if classes is None else np.unique(np.asarray(classes))
        if not first and labels is not None and labels.tolist() != self.classes_.tolist():
            raise ValueError(f"{type(self).__name__}: partial_fit: classes={labels.tolist()} are not the "
                             f"fitted network's classes_ {self.classes_.tolist()}; fit anew for others")
        try:
            return self._fit(X, y, mode="new" if first else "partial_fit", epochs=1, incremental=True,
                             sample_weight=sample_weight,
                             given={"classes_": labels, "_classes_given": labels} if first else None)
        finally:
            self.__dict__.pop("_classes_given", None)

    def _score(self, X: NDArray[Any], targets: NDArray[Any], weights: NDArray[Any] | None = None) -> float:
        outputs = self.model_.predict(X)
        if self.multilabel_:  # subset accuracy: every label right
            right = np.all((expit(outputs.astype(np.float64)) > 0.5) == (targets > 0.5), axis=1)
        else:
            right = np.argmax(outputs, axis=1) == targets
        return float(np.average(right, weights=weights))

    def predict_proba(self, X: ArrayLike) -> NDArray[Any]:
        """The class probabilities (softmax of the logits), ``(n_samples, n_classes)``;
        for a multilabel network each label's probability (the sigmoid of its logit),
        ``(n_samples, n_labels)``."""
        logits = self._outputs(X).astype(np.float64)
        return expit(logits) if self.multilabel_ else Softmax().forward(logits)

    @underflow_ignored
    def predict_log_proba(self, X: ArrayLike) -> NDArray[Any]:
        """The logarithms of ``predict_proba``, from the logits: finite where a
        probability underflows to 0 (log-softmax, or each label's log-sigmoid)."""
        logits = self._outputs(X).astype(np.float64)
        return log_expit(logits) if self.multilabel_ else log_softmax(logits, axis=1)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The most probable class of each sample; for a multilabel network the
        indicator matrix of the labels whose probability is above 0.5."""
        if self.multilabel_:
            return (self.predict_proba(X) > 0.5).astype(np.int64)
        best = np.argmax(self._outputs(X), axis=1)
        return self.classes_[best]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class DenseNetRegressor(RegressorMixin, _DenseNetEstimator):
    """A densenet network as a scikit-learn regressor.

    The recipe: as ``DenseNetClassifier``'s, with a linear Dense output of one unit
    per target and the mean squared error (``MSELoss``); or with ``loss="poisson"``, as
    the MLP's, for counts and rates (``y >= 0``): the output is a log-rate trained by
    the Poisson negative log-likelihood (``PoissonNLLLoss``) and ``predict`` gives the
    rate, its ``exp`` (``out_activation_`` ``"exp"``). ``y`` may be
    ``(n_samples,)`` or ``(n_samples, n_targets)``; ``predict`` answers in the same shape.
    The attributes are the classifier's less ``classes_``; ``out_activation_`` is
    ``"identity"`` (or ``"exp"``), ``loss_curve_`` the mean squared error (scikit-learn's
    MLP reports half of it; with ``loss="poisson"``, ``mean(exp(z) - y z)``, the MLP's
    half Poisson deviance less a term of ``y`` alone), and early stopping watches R^2 of
    the predictions (``score``). The losses are means over every target of every row,
    the MLP's over the rows of a sum over the targets, and its squared error half: with
    ``n_targets`` targets the gradient here is ``2 / n_targets`` times the MLP's
    (``1 / n_targets`` for Poisson). ``alpha`` weighs as much against it as the MLP's;
    SGD takes the same steps at ``learning_rate_init`` times ``n_targets / 2``. ``tol`` is the
    MLP's, against its loss: an epoch improves when the loss here falls by ``2 tol`` (``tol /
    n_targets`` for Poisson).

    Example:
        >>> import numpy as np
        >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
        >>> reg = DenseNetRegressor(hidden_layer_sizes=(32,), batch_size=20, learning_rate_init=0.01,
        ...                         random_state=0)
        >>> bool(reg.fit(X, X[:, 0] ** 2).score(X, X[:, 0] ** 2) > 0.99)
        True
    """

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,), activation: str = "relu",
                 solver: str = "adam", alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate_init: float = 1e-3, max_iter: int = 200, tol: float = 1e-4,
                 shuffle: bool = True, random_state: Any = None, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, learning_rate: str = "constant",
                 power_t: float = 0.5, max_fun: int = 15000, verbose: bool = False,
                 dtype: str = "float64", loss: str = "squared_error") -> None:
        # scikit-learn reads an estimator's parameters from its own __init__'s signature: the
        # shared ones stand here again, as in scikit-learn's MLPRegressor, with ``loss`` last
        super().__init__(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate_init,
                         max_iter, tol, shuffle, random_state, warm_start, momentum, nesterovs_momentum,
                         early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
                         learning_rate, power_t, max_fun, verbose, dtype)
        self.loss = loss

    @property
    def _out_activation(self) -> str:  # type: ignore[override]
        return "exp" if self.loss == "poisson" else "identity"

    def _own_parameters(self) -> dict[str, Any]:
        if not one_of(self.loss, REGRESSION_LOSSES):
            raise ValueError(f"loss must be one of {list(REGRESSION_LOSSES)}, got {self.loss!r}")
        return {"loss": self.loss}

    def _loss(self) -> Any:
        return PoissonNLLLoss() if self.loss == "poisson" else MSELoss()

    @property
    def _loss_scale(self) -> float:
        return (1.0 if self.loss == "poisson" else 2.0) / self.model_.out_features

    @property
    def _loss_ratio(self) -> float:
        return 1.0 / self.model_.out_features if self.loss == "poisson" else 2.0

    def _n_outputs(self, y: NDArray[Any]) -> int:
        return y.shape[1]

    def _targets(self, y: NDArray[Any], mode: str) -> NDArray[Any]:
        y = np.asarray(y, dtype=np.dtype(self.dtype))
        if self.loss == "poisson":
            non_negative(y, "y", f"{type(self).__name__} with loss='poisson'")
        if mode == "new":
            self.y_1d_ = y.ndim == 1
        elif (columns := 1 if y.ndim == 1 else y.shape[1]) != self.n_outputs_:  # (before fit sets anything)
            raise ValueError(f"{type(self).__name__}: {mode}: the fitted network has {self.n_outputs_} "
                             f"outputs, but y has {columns} column(s); fit with warm_start=False for a new "
                             "network")
        return y.reshape(len(y), -1)

    def _predictions(self, outputs: NDArray[Any]) -> NDArray[Any]:
        """The targets the network's outputs predict: themselves, or the rates ``exp`` of
        log-rates."""
        return np.exp(outputs) if self.loss == "poisson" else outputs

    def _score(self, X: NDArray[Any], targets: NDArray[Any], weights: NDArray[Any] | None = None) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(targets, self._predictions(self.model_.predict(X)), sample_weight=weights))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_if_stochastic
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """One epoch on ``(X, y)`` (each sample's loss weighted by ``sample_weight``),
        building the network on the first call."""
        return self._fit(X, y, mode="partial_fit" if hasattr(self, "model_") else "new", epochs=1,
                         incremental=True, sample_weight=sample_weight)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The predicted targets (rates, with ``loss="poisson"``), ``(n_samples,)`` when
        fitted on a 1-D ``y``."""
        Y = self._predictions(self._outputs(X))
        return Y.ravel() if self.y_1d_ else Y
