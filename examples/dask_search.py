"""The same grid search on a Dask cluster, through joblib's ``dask`` backend.

scikit-learn runs a search's fits through joblib; with
``joblib.parallel_backend("dask")`` they go to the workers of a Dask cluster
instead of local processes, and each worker gets a copy of the estimator (densenet
models pickle whole). Here the cluster is a ``LocalCluster`` on this machine; to
use a real one, pass its scheduler's address (``--scheduler tcp://host:8786``).

Needs the ``distributed`` extra (Dask and scikit-learn): pip install -e ".[distributed]".

    python examples/dask_search.py [--scheduler ADDRESS] [--workers 2]
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any


def search(client_address: str | None, workers: int) -> Any:
    """The grid search, fitted on the cluster at ``client_address`` (None: a ``LocalCluster``
    of ``workers`` processes); a fitted ``GridSearchCV``."""
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
        from sklearn.datasets import load_digits
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from densenet.sklearn import DenseNetClassifier
    except ImportError:
        raise SystemExit("this example needs dask[distributed] and scikit-learn: "
                         "pip install -e '.[distributed]'") from None

    # the dashboard on a free port (":0"): None still takes 8787, and warns when it is taken
    cluster = None if client_address else LocalCluster(n_workers=workers, threads_per_worker=1,
                                                         processes=True, dashboard_address=":0")
    with Client(client_address or cluster) as client:
        workers_up = len(client.scheduler_info()["workers"])
        print(f"Dask cluster: {workers_up} workers at {client.scheduler.address}")
        X, y = load_digits(return_X_y=True)
        pipe = make_pipeline(StandardScaler(), DenseNetClassifier(max_iter=30, random_state=0))
        grid = {"densenetclassifier__hidden_layer_sizes": [(32,), (64,)],
                "densenetclassifier__learning_rate_init": [1e-3, 1e-2]}
        searcher = GridSearchCV(pipe, grid, cv=3)
        with joblib.parallel_backend("dask"), warnings.catch_warnings():
            # 30 epochs a fit, for a quick search: every fit stops before it converges, which
            # each would say by a ConvergenceWarning (in the workers too: the filter goes with it)
            warnings.simplefilter("ignore", ConvergenceWarning)
            searcher.fit(X, y)
    if cluster is not None:
        cluster.close()
    return searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", help="a Dask scheduler's address (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the LocalCluster")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    searcher = search(args.scheduler, args.workers)
    for params, score in zip(searcher.cv_results_["params"], searcher.cv_results_["mean_test_score"]):
        print(f"  {params}: {score:.2%}")
    print(f"best: {searcher.best_params_} at {searcher.best_score_:.2%}")


if __name__ == "__main__":
    main()
