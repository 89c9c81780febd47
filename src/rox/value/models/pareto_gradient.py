"""The Pareto/NBD log-likelihood with its exact gradient, from one hypergeometric series.

Pareto/NBD (Schmittlein, Morrison & Colombo 1987) in the form of Fader & Hardie (2005), "A Note on
Deriving the Pareto/NBD Model and Related Expressions", eq. (19)-(22)::

    ln L = ln G(r+x) - ln G(r) + r ln(alpha) + s ln(beta) + ln(e^L1 + e^L2)
    L1   = -(r+x) ln(alpha+T) - s ln(beta+T)                  alive at T
    L2   = ln s + ln I,   I = int_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du
                                                            dropped out at some u in (t_x, T]

(s I is the note's s/(r+s+x) A_0). With c = r+s+x and, when alpha >= beta,
z = (alpha-beta)/(alpha+t) in [0, 1), the tail of the integral is (Gradshteyn & Ryzhik
3.197.1; the note's eq. 20)::

    J(t) = int_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du
         = (alpha+t)^-c / c * 2F1(c, s+1; c+1; z)
         = (alpha+t)^-c * S,   S = sum_k (s+1)_k z^k / (k! (c+k))

and I = J(t_x) - J(T). When alpha < beta the roles swap: (beta+t)^-c, z = (beta-alpha)/(beta+t), and
the series runs in (r+x)_k. SciPy's hyp2f1 has no derivative in its parameters; the series has,
term by term::

    dS/dc = -sum_k u_k / (c+k)^2
    dS/db = sum_k u_k / (c+k) * (psi(b+k) - psi(b)),   u_k = (b)_k z^k / k!,  b = s+1 or r+x
    dS/dz = sum_{k>=1} (b)_k z^(k-1) / ((k-1)! (c+k))

and z depends on alpha and beta (dz/dalpha = (beta+t)/(alpha+t)^2, dz/dbeta = -1/(alpha+t) when
alpha >= beta). The series converges like z^k; it is summed until every row's next term is below
1e-17 of its sum (past the largest term), which for CDNOW's z < 0.1 takes about 20 terms. Rows
where it has not converged after a few hundred terms (z close to 1: alpha and beta far apart)
get SciPy's value and a central-difference gradient, as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import special

from rox.value.models.special import trigamma

__all__ = ["paretonbd_loglik_gradient"]

_FIRST_TERMS = 16
_MAX_TERMS = 256
_RELATIVE = 1e-16


def _series(
    c: Any, b: Any, z: np.ndarray, *, second: bool = False, max_terms: int = _MAX_TERMS
) -> tuple[Any, ...]:
    """S and its derivatives in (c, b, z) (see module), summed over k on a (rows, K) grid.

    Returns ``(S, first, second, converged)``: ``first`` the (n, 3) derivatives in (c, b, z),
    ``second`` the (n, 3, 3) second derivatives (or None). Rows start with K = 16 terms; those
    whose last term is not yet negligible and falling are summed again with twice as many (up
    to ``max_terms``; rows beyond are flagged), so each row costs about the terms it needs.
    """
    n = len(z)
    c = np.broadcast_to(np.asarray(c, dtype="float64"), (n,))
    b = np.broadcast_to(np.asarray(b, dtype="float64"), (n,))
    z = np.asarray(z, dtype="float64")
    total, first = np.empty(n), np.empty((n, 3))
    hess = np.empty((n, 3, 3)) if second else None
    done = np.zeros(n, dtype=bool)
    rows = np.arange(n)
    terms = _FIRST_TERMS
    while len(rows):
        part = _sum_terms(c[rows], b[rows], z[rows], terms, second)
        ok = part[3] | (terms >= max_terms)
        keep = rows[ok]
        total[keep], first[keep] = part[0][ok], part[1][ok]
        if hess is not None:
            hess[keep] = part[2][ok]
        done[keep] = part[3][ok]
        rows = rows[~ok]
        terms *= 2
    return total, first, hess, done


def _sum_terms(c: Any, b: Any, z: Any, terms: int, second: bool) -> tuple[Any, ...]:
    """The sums of :func:`_series` over the first ``terms`` terms, and which rows converged."""
    n = len(z)
    c, b, zz = c[:, None], b[:, None], z[:, None]
    k = np.arange(terms, dtype="float64")[None, :]
    # u_k = (b)_k z^k / k!, v_k = du_k/dz = (b)_k z^(k-1)/(k-1)!, w_k = d2u_k/dz2
    ratio = (b + k[:, :-1]) * zz / (k[:, 1:])
    u = np.cumprod(np.concatenate([np.ones((n, 1)), ratio], axis=1), axis=1)
    v = np.concatenate([np.zeros((n, 1)), u[:, :-1] * (b + k[:, :-1])], axis=1)
    inv = 1.0 / (c + k)
    ui, vi = u * inv, v * inv
    total = np.sum(ui, axis=1)
    s_z = np.sum(vi, axis=1)
    falling = (b[:, 0] + terms) * z < terms + 1
    done = falling & (ui[:, -1] <= _RELATIVE * total) & (vi[:, -1] <= _RELATIVE * s_z)
    inv_b = 1.0 / (b + k)
    h = np.cumsum(np.concatenate([np.zeros((n, 1)), inv_b[:, :-1]], axis=1), axis=1)
    uih = ui * h
    first = np.column_stack([-np.sum(ui * inv, axis=1), np.sum(uih, axis=1), s_z])
    if not second:
        return total, first, None, done
    g = np.cumsum(np.concatenate([np.zeros((n, 1)), inv_b[:, :-1] ** 2], axis=1), axis=1)
    # w_k = (b)_k z^(k-2)/(k-2)! = v_{k-1} (b + k - 1) (0 at k = 0, 1)
    w = np.concatenate([np.zeros((n, 1)), v[:, :-1] * (b + k[:, :-1])], axis=1)
    hess = np.empty((n, 3, 3))
    hess[:, 0, 0] = 2 * np.sum(ui * inv**2, axis=1)
    hess[:, 0, 1] = hess[:, 1, 0] = -np.sum(uih * inv, axis=1)
    hess[:, 0, 2] = hess[:, 2, 0] = -np.sum(vi * inv, axis=1)
    hess[:, 1, 1] = np.sum(uih * h - ui * g, axis=1)
    hess[:, 1, 2] = hess[:, 2, 1] = np.sum(vi * h, axis=1)
    hess[:, 2, 2] = np.sum(w * inv, axis=1)
    return total, first, hess, done


def _log_tail(
    r: Any,
    alpha: Any,
    s: Any,
    beta: Any,
    x: np.ndarray,
    t: np.ndarray,
    *,
    second: bool = False,
    max_terms: int = _MAX_TERMS,
) -> tuple[Any, ...]:
    """The log of J(t), its gradient (n, 4) and Hessian (n, 4, 4, or None) in the parameters.

    ln J = -c ln(base) + ln S(c, b, z), base = hi + t, z = (hi - lo) / base; c and b are linear
    in the parameters, and dz = (dhi (1 - z) - dlo) / base, d2z = -(dhi dz' + dz dhi') / base.
    """
    n = len(x)
    c = r + s + x
    swap = np.broadcast_to(alpha < beta, (n,))
    hi = np.where(swap, beta, alpha)
    lo = np.where(swap, alpha, beta)
    base = hi + t
    z = (hi - lo) / base
    b = np.where(swap, r + x, s + 1)
    total, first, hess, done = _series(c, b, z, second=second, max_terms=max_terms)
    e = np.eye(4)
    d_c = np.broadcast_to(e[0] + e[2], (n, 4))
    d_b = np.where(swap[:, None], e[0], e[2])
    d_hi = np.where(swap[:, None], e[3], e[1])
    d_lo = np.where(swap[:, None], e[1], e[3])
    d_z = (d_hi * (1 - z)[:, None] - d_lo) / base[:, None]
    log_base = np.log(base)
    log_j = -c * log_base + np.log(total)
    q = first / total[:, None]  # d ln S / d(c, b, z)
    jac = np.stack([d_c, d_b, d_z], axis=1)  # (n, 3, 4)
    grad = (
        -log_base[:, None] * d_c - (c / base)[:, None] * d_hi + np.matmul(q[:, None, :], jac)[:, 0]
    )
    if not second:
        return log_j, grad, None, done
    h3 = hess / total[:, None, None] - q[:, :, None] * q[:, None, :]
    outer_c_hi = d_c[:, :, None] * d_hi[:, None, :]
    outer_hi_z = d_hi[:, :, None] * d_z[:, None, :]
    d2z = -(outer_hi_z + outer_hi_z.transpose(0, 2, 1)) / base[:, None, None]
    h = (
        -(outer_c_hi + outer_c_hi.transpose(0, 2, 1)) / base[:, None, None]
        + (c / base**2)[:, None, None] * d_hi[:, :, None] * d_hi[:, None, :]
        + np.matmul(jac.transpose(0, 2, 1), np.matmul(h3, jac))
        + q[:, 2, None, None] * d2z
    )
    return log_j, grad, h, done


class _Rows(NamedTuple):
    """Per-row pieces of the log-likelihood shared by the per-row and the total Hessian."""

    ll: np.ndarray
    grad: np.ndarray
    ok: np.ndarray
    tails: tuple[tuple[Any, ...], tuple[Any, ...]]  # (ln J, grad, hess, ok) per distinct pair
    codes: tuple[np.ndarray, np.ndarray]
    g_a: np.ndarray
    g_b: np.ndarray
    g_i: np.ndarray
    wa: np.ndarray
    wb: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    diff: np.ndarray


def _rows(
    r: Any,
    alpha: Any,
    s: Any,
    beta: Any,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    second: bool,
    max_terms: int,
    distinct: tuple[np.ndarray, ...] | None,
) -> _Rows:
    """The log-likelihood, its gradient and the pieces of its Hessian, per row."""
    n = len(x)
    if distinct is None:
        n_all = np.arange(n)
        distinct = (n_all, n_all, n_all, n_all)
    first_a, codes_a, first_b, codes_b = distinct
    tail_a = _log_tail(
        r, alpha, s, beta, x[first_a], tx[first_a], second=second, max_terms=max_terms
    )
    tail_b = _log_tail(
        r, alpha, s, beta, x[first_b], T[first_b], second=second, max_terms=max_terms
    )
    log_a, g_a, ok_a = tail_a[0][codes_a], tail_a[1][codes_a], tail_a[3][codes_a]
    log_b, g_b, ok_b = tail_b[0][codes_b], tail_b[1][codes_b], tail_b[3][codes_b]
    # I = J(t_x) - J(T) in logs; nobody can have dropped out in (t_x, T] when t_x = T
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.exp(log_b - log_a)
        empty = ~(rho < 1.0)
        wa = np.where(empty, 0.0, 1.0 / (1.0 - rho))
        wb = np.where(empty, 0.0, rho * wa)
        log_i = np.where(empty, -np.inf, log_a + np.log1p(-np.where(empty, 0.0, rho)))
    g_i = wa[:, None] * g_a - wb[:, None] * g_b
    log_alpha_t, log_beta_t = np.log(alpha + T), np.log(beta + T)
    l1 = -(r + x) * log_alpha_t - s * log_beta_t
    l2 = np.log(s) + log_i
    m = np.maximum(l1, l2)
    e1, e2 = np.exp(l1 - m), np.exp(l2 - m)
    w1, w2 = e1 / (e1 + e2), e2 / (e1 + e2)
    ll = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + m
        + np.log(e1 + e2)
    )
    zero = np.zeros(n)
    g1 = np.column_stack(
        [-log_alpha_t + zero, -(r + x) / (alpha + T), -log_beta_t + zero, -s / (beta + T) + zero]
    )
    g2 = g_i.copy()
    g2[:, 2] += 1.0 / s
    grad = w1[:, None] * g1 + w2[:, None] * g2
    grad[:, 0] += special.digamma(r + x) - special.digamma(r) + np.log(alpha)
    grad[:, 1] += r / alpha
    grad[:, 2] += np.log(beta)
    grad[:, 3] += s / beta
    return _Rows(
        ll,
        grad,
        ok_a & ok_b,
        (tail_a, tail_b),
        (codes_a, codes_b),
        g_a,
        g_b,
        g_i,
        wa,
        wb,
        w1,
        w2,
        g1 - g2,
    )


def _closed_form_hessian(
    r: Any, alpha: Any, s: Any, beta: Any, x: Any, T: Any, c1: Any, c: Any
) -> np.ndarray:
    """Weighted sum of the terms of the Hessian that need no series.

    ``c1``: each row's weight on the alive-at-T term's Hessian (w1), ``c``: each row's weight
    (for the gamma-function terms, and -1/s^2 of ln s via ``w2``, added by the caller).
    """
    out = np.zeros((4, 4))
    out[0, 1] = out[1, 0] = -np.sum(c1 / (alpha + T)) + np.sum(c) / alpha
    out[1, 1] = np.sum(c1 * (r + x) / (alpha + T) ** 2) - np.sum(c) * r / alpha**2
    out[2, 3] = out[3, 2] = -np.sum(c1 / (beta + T)) + np.sum(c) / beta
    out[3, 3] = np.sum(c1 * s / (beta + T) ** 2) - np.sum(c) * s / beta**2
    out[0, 0] = np.sum(c * (trigamma(r + x) - trigamma(r)))
    return out


def paretonbd_totals(
    params: np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    w: np.ndarray,
    *,
    max_terms: int = _MAX_TERMS,
    distinct: tuple[np.ndarray, ...] | None = None,
) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """The weighted totals: log-likelihood, gradient, Hessian, and whether every series converged.

    The same formulas as :func:`paretonbd_loglik_gradient`, summed without forming a Hessian
    per row: each sum of per-row matrices is a weighted matrix product, and the series'
    Hessians enter once per distinct pair, weighted by the rows that share it.
    """
    r, alpha, s, beta = (float(v) for v in params)
    p = _rows(r, alpha, s, beta, x, tx, T, True, max_terms, distinct)
    if not p.ok.all():
        return float("nan"), np.full(4, np.nan), np.full((4, 4), np.nan), False
    c2 = w * p.w2
    ca, cb = c2 * p.wa, c2 * p.wb
    hess = _closed_form_hessian(r, alpha, s, beta, x, T, w * p.w1, w)
    for tail, codes, weight, g in (
        (p.tails[0], p.codes[0], ca, p.g_a),
        (p.tails[1], p.codes[1], cb, p.g_b),
    ):
        per_pair = np.bincount(codes, weights=weight, minlength=len(tail[0]))
        sign = 1.0 if g is p.g_a else -1.0
        hess += sign * (np.einsum("n,nij->ij", per_pair, tail[2]) + (g * weight[:, None]).T @ g)
    hess -= (p.g_i * c2[:, None]).T @ p.g_i
    hess[2, 2] -= float(np.sum(c2)) / s**2
    hess += (p.diff * (w * p.w1 * p.w2)[:, None]).T @ p.diff
    return float(w @ p.ll), w @ p.grad, hess, True


def paretonbd_loglik_gradient(
    r: Any,
    alpha: Any,
    s: Any,
    beta: Any,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    *,
    second: bool = False,
    max_terms: int = _MAX_TERMS,
    distinct: tuple[np.ndarray, ...] | None = None,
) -> tuple[Any, ...]:
    """Pareto/NBD log-likelihood per customer, its gradient and Hessian in (r, alpha, s, beta).

    Returns ``(ll, grad, hess, converged)``: shapes (n,), (n, 4), (n, 4, 4) (None unless
    ``second``; scalar parameters only), and which rows' series converged (the others' values
    are not to be used; ``max_terms`` bounds the series). ``distinct``: the first row of each
    distinct (x, t_x) and (x, T) pair and each row's index into them, ``(first_a, codes_a,
    first_b, codes_b)``; the series, the slow part, then run once per pair (scalar parameters
    only). ``alpha`` and ``beta`` may be per-row arrays (covariates); derivatives
    are then with respect to each row's own values. With ``L = ln(e^L1 + e^L2)`` and weights
    ``w1``, ``w2``: ``L'' = w1 L1'' + w2 L2'' + w1 w2 (L1' - L2')(L1' - L2')'``; with
    ``I = J_a - J_b`` (``J_a = J(t_x)``, ``J_b = J(T)``, ``rho = J_b / J_a``):
    ``(ln I)' = (J_a' - rho J_b') / (1 - rho)`` in terms of log-derivatives, and
    ``(ln I)'' = [J_a (H_a + g_a g_a') - J_b (H_b + g_b g_b')] / I - (ln I)' (ln I)''``.
    """
    p = _rows(r, alpha, s, beta, x, tx, T, second, max_terms, distinct)
    if not second:
        return p.ll, p.grad, None, p.ok
    n = len(x)
    h_a = p.tails[0][2][p.codes[0]]
    h_b = p.tails[1][2][p.codes[1]]

    def outer(g: np.ndarray) -> np.ndarray:
        return np.asarray(g[:, :, None] * g[:, None, :])

    h_i = (
        p.wa[:, None, None] * (h_a + outer(p.g_a))
        - p.wb[:, None, None] * (h_b + outer(p.g_b))
        - outer(p.g_i)
    )
    h2 = h_i.copy()
    h2[:, 2, 2] -= 1.0 / s**2
    hess = p.w2[:, None, None] * h2 + (p.w1 * p.w2)[:, None, None] * outer(p.diff)
    for i in range(n):  # the closed-form terms, row by row (this path is for checks)
        hess[i] += _closed_form_hessian(r, alpha, s, beta, x[i], T[i], p.w1[i], 1.0)
    return p.ll, p.grad, hess, p.ok
