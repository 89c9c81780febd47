"""The one fitting core of rox's customer-value models: weighted maximum likelihood in log-space.

Every model supplies a function returning the log-likelihood of each (compressed) data row and its
gradient with respect to the model's parameters; this module does the rest, once for all models:

- positive parameters are optimised on the log scale (covariate coefficients as they are);
- a model that supplies the second derivatives of its log-likelihood (BG/NBD and Gamma-Gamma
  without covariates) is fitted by Newton's method with a line search, which needs a handful of
  evaluations, and its standard errors come from that exact Hessian; whenever Newton does not end
  at a well-determined interior maximum, the fit falls back to the general path below;
- the general path: L-BFGS-B with the analytic gradient, from the model's starting values and then
  from perturbed restarts if that fails;
- rows carry weights (the number of customers sharing the row), so a fit on the distinct
  (x, t_x, T) rows equals the fit on every customer;
- the result is checked: finite log-likelihood, converged, small gradient — otherwise a
  :class:`~rox.errors.ConvergenceError` says what went wrong (never NaN parameters silently);
- standard errors come from the inverse of the observed information (the Hessian of the negative
  log-likelihood: exact on the Newton path, by central differences of the analytic gradient on
  the general path), mapped back to the natural scale with the delta method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize
from threadpoolctl import ThreadpoolController

from rox.errors import ConvergenceError

__all__ = ["FitResult", "LogLikelihood", "fit", "parameter_draws"]

Array = NDArray[np.float64]
#: ``f(params) -> (loglik per row, gradient per row and parameter)``; shapes (n,), (n, k).
LogLikelihood = Callable[[Array], tuple[Array, Array]]
#: ``f(params) -> (log-likelihood, gradient, Hessian)``, each summed over the rows with their
#: weights, in the natural parameters; shapes (), (k,), (k, k).
LogLikelihoodWithCurvature = Callable[[Array], tuple[float, Array, Array]]
#: A model's known limit: (estimates, names of the parameters the likelihood is flat in) ->
#: (note, names of the parameters whose standard errors are undefined), or None.
LimitCase = Callable[[Array, list[str]], tuple[str, list[str]] | None]

_GRADIENT_TOLERANCE = 1e-3  # on the mean log-likelihood per customer, in log-parameter space
_NEWTON_GTOL = 1e-10  # Newton's stopping rule: gradient norm of the same objective
_NEWTON_ACCEPT = 1e-7  # largest gradient component accepted at Newton's end
_NEWTON_MAXITER = 100
_NEWTON_MAX_STEP = 5.0
#: Largest standard error of a positive parameter on the log scale (one known only to a factor of
#: e^3 is not identified by the data). Both paths use it: a flat direction must be recognised
#: from the size of its standard error, not from the sign of a nearly zero variance, which
#: floating point decides (it differed between CPUs with and without AVX-512).
_MAX_LOG_SE = 3.0


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The BLAS thread pools, found once per process (finding them costs ~3 ms a fit)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class FitResult:
    """What a fit found.

    Attributes
    ----------
    params : ndarray
        Maximum-likelihood estimates (natural scale).
    standard_errors : ndarray
        Asymptotic standard errors (NaN where the information matrix is singular).
    log_likelihood : float
        Maximised log-likelihood (weighted sum over rows).
    n_iter : int
        Optimiser iterations of the successful start.
    gradient_norm : float
        Largest absolute gradient at the optimum (per customer, log-parameter space).
    notes : tuple of str
        Diagnostics the user should read (e.g. a limit case the model reduced to).
    covariance : ndarray or None
        The asymptotic covariance of the estimates on the fitting scale (log for positive
        parameters, as they are for covariate coefficients): the inverse observed information
        the standard errors come from; None where it is not known (given parameters).
    """

    params: Array
    standard_errors: Array
    log_likelihood: float
    n_iter: int
    gradient_norm: float
    notes: tuple[str, ...] = ()
    covariance: Array | None = None


def fit(
    loglik: LogLikelihood,
    start: Sequence[float],
    weights: Array,
    *,
    names: Sequence[str],
    positive: Sequence[bool] | None = None,
    limit_case: LimitCase | None = None,
    lower: float = 1e-8,
    upper: float = 1e8,
    restarts: int = 4,
    seed: int = 0,
    curvature: LogLikelihoodWithCurvature | None = None,
    newton_starts: Sequence[Sequence[float]] = (),
) -> FitResult:
    """Maximise ``sum(weights * loglik(params))``.

    Parameters
    ----------
    loglik : callable
        Log-likelihood of each row and its gradient (see :data:`LogLikelihood`).
    start : sequence of float
        Starting values (natural scale, positive).
    weights : ndarray
        Weight of each row (customers sharing it).
    names : sequence of str
        Parameter names, for messages.
    positive : sequence of bool, optional
        Which parameters are positive (fitted on the log scale, within ``lower`` and ``upper``);
        the others (covariate coefficients) are free in [-50, 50]. Default: all positive.
    limit_case : callable, optional
        Called with the estimates and the names of the parameters the likelihood is flat in (if
        any) once the general path has converged; returns a note and the parameters whose
        standard errors are undefined when the fit is at a known limit of the model (accepted,
        with the note), or None (a fit flat in some parameter then fails).
    lower, upper : float
        Bounds of the positive parameters (natural scale).
    restarts : int
        Perturbed restarts tried after a failed start.
    seed : int
        Seed of the perturbations.
    curvature : callable, optional
        The weighted total log-likelihood with its gradient and Hessian (see
        :data:`LogLikelihoodWithCurvature`); given, the fit tries Newton's method first.
    newton_starts : sequence of sequences of float, optional
        Further starting values for Newton's method. With them, Newton's method is tried from
        each start, highest log-likelihood first, until one converges (before the general
        path, which starts from ``start``).

    Raises
    ------
    ConvergenceError
        If no start reaches a finite, converged optimum.
    """
    w = np.asarray(weights, dtype="float64")
    total = float(w.sum())
    if total <= 0:
        raise ConvergenceError("nothing to fit: no customers")
    pos = np.ones(len(start), bool) if positive is None else np.asarray(positive, bool)
    bounds = [(np.log(lower), np.log(upper)) if p else (-50.0, 50.0) for p in pos]

    def natural(theta: Array) -> Array:
        return np.where(pos, np.exp(np.where(pos, theta, 0.0)), theta)

    def objective(theta: Array) -> tuple[float, Array]:
        params = natural(theta)
        with np.errstate(all="ignore"):
            ll, grad = loglik(params)
        # plain numpy reductions, not BLAS: on small problems BLAS threads cost more than they give
        value = -float(np.sum(w * ll)) / total
        g = -np.sum(grad * w[:, None], axis=0) * np.where(pos, params, 1.0) / total
        if not np.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e10, np.zeros_like(theta)
        return value, g

    # L-BFGS-B's BLAS calls on a handful of parameters are slower threaded than not (measured:
    # 6 ms per step with OpenBLAS threads on a busy 2-core machine, bench/bench_clv.py)
    with _thread_pools().limit(limits=1, user_api="blas"):
        if curvature is not None:
            starts = [_start(s, pos, lower, upper) for s in (start, *newton_starts)]
            for x0, first in _newton_order(curvature, starts, natural):
                found = _newton(curvature, x0, total, pos, bounds, natural, first)
                if found is not None:
                    return found
        return _fit(
            objective,
            start,
            names,
            pos,
            lower,
            upper,
            bounds,
            natural,
            total,
            limit_case,
            restarts,
            seed,
        )


def _start(start: Sequence[float], pos: Array, lower: float, upper: float) -> Array:
    """Starting values on the fitting scale."""
    start_ = np.asarray(start, dtype="float64")
    return np.where(pos, np.log(np.clip(np.abs(start_), lower, upper)), start_)


def _newton_order(
    curvature: LogLikelihoodWithCurvature,
    thetas: list[Array],
    natural: Callable[[Array], Array],
) -> list[tuple[Array, tuple[float, Array, Array] | None]]:
    """Newton's starts on the fitting scale, highest log-likelihood first, with their evaluation.

    Newton's method converges from near a maximum; from a poor start it can wander along a
    region the likelihood refuses (Pareto/NBD's long series) for its whole iteration budget
    before giving way (measured: 306 evaluations, 20 s, on the demo's 183,043 buyers, where the
    second start, 43,000 log-likelihood units higher, converged in 5 steps). So the starts are
    tried best first; ties (and starts whose log-likelihood is not finite) keep their order. A
    single start is not evaluated here. Each evaluation is handed on, so none is computed twice.
    """
    if len(thetas) == 1:
        return [(thetas[0], None)]
    firsts = []
    for theta in thetas:
        with np.errstate(all="ignore"):
            firsts.append(curvature(natural(theta)))
    scores = [float(f[0]) if np.isfinite(f[0]) else -np.inf for f in firsts]
    order = sorted(range(len(thetas)), key=lambda i: -scores[i])  # stable: ties keep order
    return [(thetas[i], firsts[i]) for i in order]


def _newton(
    curvature: LogLikelihoodWithCurvature,
    theta0: Array,
    total: float,
    pos: Array,
    bounds: list[tuple[float, float]],
    natural: Callable[[Array], Array],
    first: tuple[float, Array, Array] | None = None,
) -> FitResult | None:
    """Newton's method on the exact Hessian, with a backtracking (Armijo) line search.

    The Hessian is shifted to positive definite where it is not (Nocedal & Wright 2006,
    sec. 3.4). Returns None unless it ends at an interior maximum with a positive-definite
    information matrix; the general path then decides, with its restarts and limit cases.
    Written out rather than SciPy's ``trust-exact``, which took as many steps but reports
    failure ("a bad approximation caused failure to predict improvement") when it reaches the
    float noise of these objectives, and whose per-step bookkeeping on 3-4 parameters costs as
    much as a likelihood evaluation (profiled on CDNOW).
    """
    k = len(theta0)
    lo, hi = np.array(bounds).T

    def evaluate(
        theta: Array, given: tuple[float, Array, Array] | None = None
    ) -> tuple[float, Array, Array]:
        params = natural(theta)
        with np.errstate(all="ignore"):
            ll, grad, hess = curvature(params) if given is None else given
        value = -float(ll) / total
        g = -np.asarray(grad) / total  # natural scale
        h = -np.asarray(hess) / total
        # to the fitting scale: theta = log(param) for positive parameters
        s = np.where(pos, params, 1.0)
        return value, g * s, h * np.outer(s, s) + np.diag(np.where(pos, g * params, 0.0))

    theta = np.asarray(theta0, dtype="float64")
    value, grad, hess = evaluate(theta, first)
    n_iter = 0
    while n_iter < _NEWTON_MAXITER and np.isfinite(value):
        if float(np.max(np.abs(grad))) <= _NEWTON_GTOL:
            break
        n_iter += 1
        lowest = float(np.linalg.eigvalsh(hess)[0]) if np.all(np.isfinite(hess)) else -np.inf
        if not np.isfinite(lowest):
            return None
        shift = 0.0 if lowest > 1e-10 else 1e-6 - lowest
        step = -np.linalg.solve(hess + shift * np.eye(k), grad)
        longest = float(np.max(np.abs(step)))
        if longest > _NEWTON_MAX_STEP:  # on the log scale: a factor of e^5 at most per step
            step *= _NEWTON_MAX_STEP / longest
        slope = float(grad @ step)
        if -slope <= 1e-14 * max(1.0, abs(value)):
            break  # the predicted gain is below the float precision of the objective
        t = 1.0
        while t > 1e-10:
            trial = theta + t * step
            tv, tg, th = evaluate(trial)
            if np.isfinite(tv) and tv <= value + 1e-4 * t * slope:
                break
            t /= 2
        else:
            break  # no decrease left: the float noise of the objective (the gradient decides)
        theta, value, grad, hess = trial, tv, tg, th
    if np.any(theta <= lo) or np.any(theta >= hi) or not np.isfinite(value):
        return None
    if float(np.max(np.abs(grad))) > _NEWTON_ACCEPT or not np.all(np.isfinite(hess)):
        return None
    try:
        np.linalg.cholesky(hess)  # an isolated maximum: the information is positive definite
        cov = np.linalg.inv(hess * total)
    except np.linalg.LinAlgError:
        return None
    var = np.diag(cov)
    # a well-determined maximum: no direction nearly flat (a flat one means the data may not
    # identify the model; the general path then decides and explains)
    if np.any(var <= 0) or np.any(np.sqrt(var) > _MAX_LOG_SE) or np.linalg.cond(hess) > 1e10:
        return None
    params = natural(theta)
    se = np.where(pos, params, 1.0) * np.sqrt(var)
    gnorm = float(np.max(np.abs(grad)))
    return FitResult(params, se, -value * total, n_iter, gnorm, covariance=np.asarray(cov, "f8"))


def _fit(
    objective: Callable[[Array], tuple[float, Array]],
    start: Sequence[float],
    names: Sequence[str],
    pos: Array,
    lower: float,
    upper: float,
    bounds: list[tuple[float, float]],
    natural: Callable[[Array], Array],
    total: float,
    limit_case: LimitCase | None,
    restarts: int,
    seed: int,
) -> FitResult:
    """The optimisation loop of :func:`fit`: starts, checks, restarts."""
    rng = np.random.default_rng(seed)
    x0 = _start(start, pos, lower, upper)
    failures = []
    for attempt in range(restarts + 1):
        theta0 = x0 if attempt == 0 else x0 + rng.normal(0, 0.5 * attempt, size=x0.shape)
        res = optimize.minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-9},
        )
        value, grad = objective(res.x)
        gnorm = float(np.max(np.abs(grad)))
        at_bound = np.isclose(res.x, [b[0] for b in bounds]) | np.isclose(
            res.x, [b[1] for b in bounds]
        )
        if value < 1e10 and gnorm < _GRADIENT_TOLERANCE and not at_bound.any():
            params = natural(res.x)
            se, cov = _standard_errors(objective, res.x, total, pos)
            weak = [
                n
                for n, e, v, p in zip(names, se, params, pos, strict=True)
                if np.isnan(e) or (p and e > _MAX_LOG_SE * v)
            ]
            limit = limit_case(params, weak) if limit_case is not None else None
            if limit is not None:
                note, undefined = limit
                se = np.where(np.isin(names, undefined), np.nan, se)
                return FitResult(
                    params, se, -value * total, int(res.nit), gnorm, (note,), covariance=None
                )
            if weak:
                raise ConvergenceError(
                    f"the data do not identify the model: the likelihood is flat in "
                    f"{', '.join(weak)} (estimates {', '.join(f'{v:.3g}' for v in params)}); "
                    "more customers, or more with repeat purchases, are needed"
                )
            return FitResult(params, se, -value * total, int(res.nit), gnorm, covariance=cov)
        reason = res.message if isinstance(res.message, str) else str(res.message)
        if at_bound.any():
            hit = [n for n, b in zip(names, at_bound, strict=True) if b]
            reason = f"parameter(s) {', '.join(hit)} ran to their bound"
        failures.append(reason)
    raise ConvergenceError(
        f"the fit did not converge from {restarts + 1} starts "
        f"({'; '.join(dict.fromkeys(failures))}); the data may not identify the model (for "
        "example almost no repeat purchases)"
    )


def _standard_errors(
    objective: Callable[[Array], tuple[float, Array]], theta: Array, total: float, positive: Array
) -> tuple[Array, Array | None]:
    """Standard errors from the Hessian in the fitting space (delta method for log scales).

    Returns the standard errors (natural scale) and the covariance on the fitting scale (None
    where the Hessian is singular).
    """
    k = len(theta)
    h = 1e-5
    hess = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        hess[:, j] = (objective(theta + step)[1] - objective(theta - step)[1]) / (2 * h)
    hess = (hess + hess.T) / 2 * total  # objective is per customer
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan), None
    var = np.diag(cov)
    scale = np.where(positive, np.exp(np.where(positive, theta, 0.0)), 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(var > 0, scale * np.sqrt(np.abs(var)), np.nan), (cov + cov.T) / 2


def parameter_draws(
    found: FitResult, positive: Sequence[bool] | Array, n: int, random_state: int | None = 0
) -> Array:
    """``n`` draws of a fit's parameters from their asymptotic normal distribution.

    Drawn on the fitting scale (log for the ``positive`` parameters, so every draw is positive;
    the others as they are) from ``N(estimate, covariance)`` (:attr:`FitResult.covariance`, the
    inverse observed information), then mapped back: the parametric uncertainty of anything
    computed from the parameters (Krinsky & Robb 1986). Shape ``(n, k)``.

    Raises
    ------
    ValueError
        If the fit has no covariance.
    """
    if found.covariance is None:
        raise ValueError("the fit has no covariance of its estimates to draw from")
    pos = np.asarray(positive, bool)
    centre = np.where(pos, np.log(np.where(pos, found.params, 1.0)), found.params)
    rng = np.random.default_rng(random_state)
    theta = rng.multivariate_normal(centre, found.covariance, size=n, method="eigh")
    return np.asarray(np.where(pos, np.exp(np.where(pos, theta, 0.0)), theta))
