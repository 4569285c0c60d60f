"""Linear probe on frozen features: standardisation + multinomial logistic regression.

The regularisation strength ``C`` is chosen by a cross-validation inside the training split (the
probe never sees a test sample before it is fitted), then the probe is refitted on the whole
training split with the chosen ``C``. Fits run with one BLAS thread: on a loaded 2-core machine a
multi-threaded BLAS made L-BFGS fits many times slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class ProbeCfg:
    """Probe settings.

    Attributes:
        cs: candidate inverse L2 strengths; with one value there is no inner cross-validation.
        folds: inner cross-validation folds on the training split.
        max_iter: L-BFGS iterations per fit.
        seed: shuffling of the inner folds.
    """

    cs: tuple[float, ...] = (0.01, 0.1, 1.0)
    folds: int = 3
    max_iter: int = 300
    seed: int = 0

    def __post_init__(self):
        if not self.cs or any(c <= 0 for c in self.cs):
            raise ConfigError(f"probe C values must be positive, got {self.cs}")
        if self.folds < 2:
            raise ConfigError(f"probe inner cross-validation needs >= 2 folds, got {self.folds}")
        if self.max_iter < 1:
            raise ConfigError(f"probe max_iter must be >= 1, got {self.max_iter}")


def _fit(x: np.ndarray, y: np.ndarray, c: float, cfg: ProbeCfg):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=cfg.max_iter))
    return probe.fit(x, y)


def cross_validate(x: np.ndarray, y: np.ndarray, cfg: ProbeCfg) -> dict[float, float]:
    """Mean inner-CV accuracy of every ``C`` of ``cfg.cs`` on ``x [N, D]``, ``y [N]``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    splitter = (
        StratifiedKFold(cfg.folds, shuffle=True, random_state=cfg.seed)
        if counts.min() >= cfg.folds
        else KFold(cfg.folds, shuffle=True, random_state=cfg.seed)
    )
    folds = list(splitter.split(x, y))
    return {
        c: float(np.mean([_fit(x[tr], y[tr], c, cfg).score(x[va], y[va]) for tr, va in folds]))
        for c in cfg.cs
    }


def choose_c(x: np.ndarray, y: np.ndarray, cfg: ProbeCfg) -> float:
    """The ``C`` of ``cfg.cs`` with the best mean inner-CV accuracy on ``x [N, D]``, ``y [N]``."""
    if len(cfg.cs) == 1:
        return cfg.cs[0]
    scores = cross_validate(x, y, cfg)
    return max(scores, key=scores.get)


@dataclass(frozen=True)
class ProbeScore:
    """A probe's mean inner-CV accuracy on the training split (``validation``, for its chosen
    ``C``) and its accuracy on the test split."""

    validation: float
    test: float


def _checked(train_x, train_y, test_x, test_y) -> tuple[np.ndarray, ...]:
    """The four inputs as arrays (features flattened to ``[N, D]``), or ConfigError."""
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ConfigError("probe: features and labels differ in length")
    if len(np.unique(train_y)) < 2:
        raise ConfigError("probe: the training split needs at least two classes")
    train_x = np.asarray(train_x, dtype=np.float64).reshape(len(train_x), -1)
    test_x = np.asarray(test_x, dtype=np.float64).reshape(len(test_x), -1)
    return train_x, train_y, test_x, test_y


def probe_accuracy(
    train_x: np.ndarray,
    train_y: Sequence,
    test_x: np.ndarray,
    test_y: Sequence,
    cfg: ProbeCfg | None = None,
) -> float:
    """Fit a probe on ``train_x [N, D]`` / ``train_y [N]`` only; its accuracy on the test split."""
    cfg = cfg or ProbeCfg()
    train_x, train_y, test_x, test_y = _checked(train_x, train_y, test_x, test_y)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        probe = _fit(train_x, train_y, choose_c(train_x, train_y, cfg), cfg)
        return float(probe.score(test_x, test_y))


def probe_score(
    train_x: np.ndarray,
    train_y: Sequence,
    test_x: np.ndarray,
    test_y: Sequence,
    cfg: ProbeCfg | None = None,
) -> ProbeScore:
    """:func:`probe_accuracy` with the inner-CV accuracy of the chosen ``C`` (cross-validated even
    for a single ``C``), so that probes of different features can be compared on the training
    split alone."""
    cfg = cfg or ProbeCfg()
    train_x, train_y, test_x, test_y = _checked(train_x, train_y, test_x, test_y)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        scores = cross_validate(train_x, train_y, cfg)
        c = max(scores, key=scores.get)
        return ProbeScore(scores[c], float(_fit(train_x, train_y, c, cfg).score(test_x, test_y)))
