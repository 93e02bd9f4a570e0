r"""The derivative rules of linear algebra: `np.linalg`, and NumPy 2's vector and matrix products.

This module covers the inverse, the determinant and `slogdet`, `solve`, `tensorsolve` and
`tensorinv`, `matrix_power`, the Cholesky factor, the QR decomposition (`qr`), the symmetric
eigendecomposition (`eigh`, `eigvalsh`), the singular value decomposition (`svd`, `svdvals`), the
norms (`norm`, `matrix_norm`, `vector_norm`; the spectral and nuclear norms from the singular
values), the condition number `cond`, the pseudo-inverse `pinv`, least squares `lstsq` and
`multi_dot`, NumPy 2's generalised ufuncs `vecdot`, `matvec` and `vecmat` (these three and
`matmul` also with their core axes placed by `axes=`), and `np.linalg`'s
array-API aliases (`matmul`, `outer`, `cross`, `diagonal`, `trace`, `tensordot`,
`matrix_transpose`, `vecdot`); `matrix_rank`, a whole number, is a constant. The rules are written
and registered as `calcbook.rules` explains, with that module's helpers; `calcbook.rules` imports
this module at its end, so `supported()` lists these functions too.

Conventions: each derivative is that of the function NumPy computes. The derivative of
$\det A$ is the cofactor matrix $\operatorname{adj}(A)^\top = \det(A)\, A^{-\top}$, at a singular
$A$ too (from the SVD), where the second derivative is that of the SVD formula: at rank $n - 1$
with distinct singular values, refused otherwise. `cholesky` reads one triangle of
its argument (the lower, or the upper with `upper=True`), `eigh` and `eigvalsh` the triangle
`UPLO`: the derivative in the other strict triangle is 0. `qr` gives NumPy's (LAPACK's) factors,
whose R may have negative diagonal entries: a Householder reflection makes $r_{kk}$ of the
opposite sign to the $k$-th pivot, so a row of R and a column of Q change sign where a pivot
crosses 0, and NumPy's factors jump there, as they do where a column is already 0 below its pivot
(LAPACK reflects nothing, a perturbation flips the sign: refused with a `ValueError`); elsewhere
the derivative is that of NumPy's factors.
Where the columns of A (of a wide A, its first M columns, which determine Q) are linearly
dependent, Q has no derivative and the rules refuse with a `ValueError`. The last M - N columns
of Q of `qr(a, mode="complete")` of a tall matrix are LAPACK's basis of the complement of the
column space, where any orthonormal basis would do: reverse mode refuses when the result
depends on them, forward mode always (it computes the tangent of all of Q); `mode="raw"` is
refused. The vectors of a repeated eigenvalue or singular value (within 16 ulp of the largest) are
any basis of their space, and so are the singular vectors outside the span of a non-square matrix
of lower rank: they have no derivative, and the rules refuse with a `ValueError` when the result
depends on them (the values alone, `eigvalsh` and `svd(..., compute_uv=False)`, are differentiated
there). `svd` of a non-square matrix with `full_matrices=True` is refused; with
`hermitian=True` it is NumPy's recipe, `eigh` of the lower triangle with the eigenvalues' sizes
as the singular values and their signs moved into `vh`. `pinv` and `lstsq` jump where the rank
drops, so they are differentiated only at full rank, with every singular value above the cutoff
`rcond`/`rtol`.
Like `abs`, the 2-norm and the Frobenius norm have derivative 0 where they are 0.
"""

from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from .rules import (
    _array,
    _axes,
    _concatenate_adapter,
    _copy,
    _cross,
    _diagonal,
    _expand_dims,
    _moveaxis,
    _mT,
    _nb,
    _ndim,
    _no_extras,
    _outer,
    _reshape,
    _root,
    _shape,
    _squeeze,
    _tensordot,
    _trace,
    _transpose,
    _triangle,
    defjvp,
    defvjp,
    primitive,
)
from .tracing import CORE_AXES, FUNCTIONS, NONDIFF, Tracer, apply, primal, unbroadcast


# --- inverse, determinant, slogdet, solve -------------------------------------------------------
def _trace_last(x):
    return np.sum(_diagonal(x, 0, -2, -1), axis=-1)


@primitive
def _inv(a):
    return np.linalg.inv(a)


defvjp(_inv, lambda g, ans, a: -_mT(ans) @ g @ _mT(ans))
defjvp(_inv, lambda t, ans, a: -ans @ t @ ans)


@primitive
def _det(a):
    return np.linalg.det(a)


def _cofactors(a, ans):
    r"""The cofactor matrix $\partial \det A / \partial A = \operatorname{adj}(A)^\top$.

    It is $\det(A)\, A^{-\top}$. Where $A$ is singular, $A^{-1}$ does not exist but the
    cofactors do: with the SVD $A = U S V^\top$,
    $\operatorname{adj}(A)^\top = \det(U)\det(V)\, U D V^\top$, where
    $D = \operatorname{diag}(\prod_{j \ne i} s_j)$ (products of the other singular values).
    Under an outer transform (a second derivative) that formula is traced too, which needs the
    derivative of the SVD: it exists where the singular values are distinct, so at a matrix of
    rank $n - 1$ (one singular value 0) but not of rank $n - 2$ or less, where a clear error is
    raised. In a stack, each matrix takes its own way.
    """
    try:
        return ans[..., None, None] * _mT(_inv(a))
    except np.linalg.LinAlgError:
        pass
    if isinstance(a, Tracer) and _ndim(a) > 2:  # (a singular one in a stack: each on its own)
        shape = _shape(a)
        count = math.prod(shape[:-2])  # (not -1: the stack may be empty)
        flat, dets = _reshape(a, (count,) + shape[-2:]), _reshape(ans, (count,))
        parts = [_cofactors(flat[i], dets[i]) for i in range(_shape(flat)[0])]
        return _reshape(np.stack(parts), shape)
    if isinstance(a, Tracer):
        ps = np.linalg.svd(np.asarray(primal(a)), compute_uv=False)  # (descending)
        close = 16 * np.finfo(ps.dtype).eps * np.max(ps, initial=0)
        if np.sum(ps <= close) >= 2:
            raise NotImplementedError(
                "second and higher derivatives of numpy.linalg.det at a matrix of rank n - 2 or "
                "less are not supported (the first derivative, the cofactor matrix, is 0 there; "
                "at rank n - 1 the second derivative is supported)"
            )
        if np.any(-np.diff(ps) <= close):
            raise NotImplementedError(
                "second and higher derivatives of numpy.linalg.det at a singular matrix whose "
                "other singular values repeat are not supported (calcbook differentiates the "
                "cofactors there through the SVD); the first derivative is"
            )
    u, s, vt = np.linalg.svd(a)
    ones = np.ones_like(s[..., :1])
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign[..., None, None] * (u * (before * after)[..., None, :]) @ vt


defvjp(_det, lambda g, ans, a: g[..., None, None] * _cofactors(a, ans))
defjvp(_det, lambda t, ans, a: np.sum(_cofactors(a, ans) * t, axis=(-2, -1)))


@primitive
def _logabsdet(a):
    return np.linalg.slogdet(a)[1]


defvjp(_logabsdet, lambda g, ans, a: g[..., None, None] * _mT(_inv(a)))
defjvp(_logabsdet, lambda t, ans, a: _trace_last(_inv(a) @ t))
_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


def _slogdet(a):
    return _SlogdetResult(np.linalg.slogdet(primal(a))[0], apply(_logabsdet, a))


@primitive
def _solve(a, b):
    """`np.linalg.solve(a, b)` with `b` a stack of matrices (vectors get a last axis of 1)."""
    return np.linalg.solve(a, b)


def _solve_vjp_a(g, ans, a, b):
    return unbroadcast(-_solve(_mT(a), g) @ _mT(ans), a.shape)


defvjp(_solve, _solve_vjp_a, lambda g, ans, a, b: unbroadcast(_solve(_mT(a), g), b.shape))


def _lift(t, x, ndim):
    """The tangent `t` of `x` with 1s inserted after its batch axes, to `ndim` primal axes."""
    nb = _nb(t, x)
    return np.reshape(t, np.shape(t)[:nb] + (1,) * (ndim - x.ndim) + x.shape)


defjvp(
    _solve,
    lambda t, ans, a, b: -_solve(a, _lift(t, a, ans.ndim) @ ans),
    lambda t, ans, a, b: _solve(a, _lift(t, b, ans.ndim)),
)


def _solve_adapter(a, b):
    if _ndim(b) == 1:  # a vector: solve for a one-column matrix
        return apply(_solve, a, _reshape(b, (-1, 1)))[..., 0]
    return apply(_solve, a, b)


FUNCTIONS.update(
    {
        np.linalg.inv: lambda a: apply(_inv, a), np.linalg.det: lambda a: apply(_det, a),
        np.linalg.slogdet: _slogdet, np.linalg.solve: _solve_adapter,
    }
)  # fmt: skip


# --- matrix powers, Cholesky --------------------------------------------------------------------
def _matrix_power(a, n):
    n = operator.index(n)
    if _ndim(a) < 2 or _shape(a)[-1] != _shape(a)[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if n == 0:  # (a constant)
        eye = np.eye(_shape(a)[-1], dtype=np.result_type(primal(a)))
        return np.broadcast_to(eye, _shape(a)).copy()
    if n == 1:  # (a new array, as NumPy's)
        return _copy(a)
    if n < 0:
        a, n = apply(_inv, a), -n
    if n == 3:  # (NumPy's order of the products: a^2 first, then times a)
        return (a @ a) @ a
    result = None
    while n:  # binary powers: a, a^2, a^4, ... multiplied in where n has a bit set
        if n & 1:
            result = a if result is None else result @ a
        n >>= 1
        if n:
            a = a @ a
    return result


def _lower_half(x):
    r"""$\Phi(X)$: the lower triangle of $X$ with its diagonal halved."""
    n = _shape(x)[-1]
    return np.where(np.tri(n, k=-1, dtype=bool), x, np.where(np.eye(n, dtype=bool), 0.5 * x, 0))


@primitive
def _cholesky(a):
    return np.linalg.cholesky(a)


def _cholesky_vjp(g, ans, a):
    # dL = L Phi(L^-1 dM L^-T), dM = tril(dA) + tril(dA, -1)^T (NumPy reads the lower triangle)
    s = _solve(_mT(ans), _mT(_solve(_mT(ans), _mT(_lower_half(_mT(ans) @ g)))))
    return _triangle(s, 0, True) + _triangle(_mT(s), -1, True)


def _cholesky_jvp(t, ans, a):
    m = _triangle(t, 0, True) + _mT(_triangle(t, -1, True))
    return ans @ _lower_half(_solve(ans, _mT(_solve(ans, _mT(m)))))


defvjp(_cholesky, _cholesky_vjp)
defjvp(_cholesky, _cholesky_jvp)


def _cholesky_adapter(a, /, *, upper=False):  # (upper: U = L^T, from the upper triangle of a)
    return _mT(apply(_cholesky, _mT(a))) if upper else apply(_cholesky, a)


FUNCTIONS.update({np.linalg.matrix_power: _matrix_power, np.linalg.cholesky: _cholesky_adapter})


# --- eigenvalues of symmetric matrices, singular values: one packed array, unpacked by indexing -
# A decomposition has several outputs; its primitive returns them side by side in one array, and
# the adapter takes them apart with traced indexing and reshapes, so the rules see one cotangent.
_EighResult = type(np.linalg.eigh(np.eye(1)))
_SVDResult = type(np.linalg.svd(np.eye(1)))


def _gaps(w):
    r"""$F_{ij} = 1/(w_j - w_i)$ for $i \ne j$; 0 on the diagonal and where $w_i$ repeats."""
    d = w[..., None, :] - w[..., :, None]
    apart = np.abs(primal(d)) > _repeat_tol(w)
    return np.where(apart, 1 / np.where(apart, d, 1), 0)


def _repeat_tol(w):
    """Values closer than rounding (16 ulp of the largest) count as one repeated value."""
    pw = np.asarray(primal(w))
    return 16 * np.finfo(pw.dtype).eps * np.max(np.abs(pw), axis=-1, initial=0)[..., None, None]


def _refuse_repeated(w, coupling, what):
    """A repeated value's vectors are any basis of their space: no derivative to give.

    `coupling[i, j]` is what the rule would divide by $w_j - w_i$. Where that gap is 0 the rule
    refuses unless the coupling is 0 too, even for functions that do not depend on the basis
    (a projector, the matrix rebuilt): their derivative is a limit the rule cannot see.
    """
    pw, pc = np.asarray(primal(w)), np.abs(np.asarray(primal(coupling)))
    same = np.abs(pw[..., None, :] - pw[..., :, None]) <= _repeat_tol(w)
    same &= ~np.eye(pw.shape[-1], dtype=bool)
    if np.any(same) and np.any(same & (pc > 1e-9 * (np.max(pc) + 1e-300))):
        raise ValueError(
            f"the {what} of a repeated value are not unique (any basis of its space will do), so "
            "they have no derivative there, and calcbook does not differentiate through them; "
            "differentiate the values alone (np.linalg.eigvalsh, np.linalg.svd(..., "
            "compute_uv=False)), or move the point off the repeated value."
        )


def _diag_embed(d):
    n = _shape(d)[-1]
    return np.where(np.eye(n, dtype=bool), d[..., None, :], 0)


@primitive
def _eigh_packed(m, uplo):
    """Eigenvalues (row 0) above eigenvectors (rows 1 to n, as columns) of a symmetric `m`.

    (LAPACK reads the triangle `uplo` of `m`, as NumPy's eigh of the caller's matrix: the same
    numbers, so the same signs of the vectors.)
    """
    w, v = np.linalg.eigh(m, UPLO=uplo)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _eigh_vjp(g, ans, m, uplo):  # dw = diag(V^T dM V), dV = V (F o (V^T dM V)), dM symmetric
    w, v, gw, gv = ans[..., 0, :], ans[..., 1:, :], g[..., 0, :], g[..., 1:, :]
    k = _mT(v) @ gv
    _refuse_repeated(w, k, "eigenvectors")
    return v @ (_gaps(w) * k + _diag_embed(gw)) @ _mT(v)


def _eigh_jvp(t, ans, m, uplo):
    w, v = ans[..., 0, :], ans[..., 1:, :]
    x = _mT(v) @ t @ v
    _refuse_repeated(w, x, "eigenvectors")
    dw = _diagonal(x, 0, -2, -1)
    return _concatenate_adapter([dw[..., None, :], v @ (_gaps(w) * x)], axis=-2)


defvjp(_eigh_packed, _eigh_vjp)
defjvp(_eigh_packed, _eigh_jvp)


def _eigh_parts(m, uplo="L"):
    packed = apply(_eigh_packed, m, uplo=uplo)
    return packed[..., 0, :], packed[..., 1:, :]


@primitive
def _eigvalsh(m, uplo):
    return np.linalg.eigvalsh(m, UPLO=uplo)


def _eigvalsh_vjp(g, ans, m, uplo):  # V diag(g) V^T
    v = _eigh_parts(m, uplo)[1]
    return (v * g[..., None, :]) @ _mT(v)


def _eigvalsh_jvp(t, ans, m, uplo):  # diag(V^T t V)
    v = _eigh_parts(m, uplo)[1]
    return np.sum(v * (t @ v), axis=-2)


defvjp(_eigvalsh, _eigvalsh_vjp)
defjvp(_eigvalsh, _eigvalsh_jvp)


def _symmetric(a, uplo):
    """The symmetric matrix NumPy's eigh sees: one triangle of `a` and its mirror image."""
    if _ndim(a) < 2 or _shape(a)[-1] != _shape(a)[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if uplo not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    lower = uplo == "L"
    return _triangle(a, 0, lower) + _mT(_triangle(a, -1 if lower else 1, lower))


def _eigh(a, UPLO="L"):  # noqa: N803 - NumPy's name
    return _EighResult(*_eigh_parts(_symmetric(a, UPLO), UPLO))


def _eigvalsh_adapter(a, UPLO="L"):  # noqa: N803
    return apply(_eigvalsh, _symmetric(a, UPLO), uplo=UPLO)


@primitive
def _svd_packed(a):
    """U (m x k), s (k) and Vh (k x n) of the thin SVD, each raveled, side by side."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    lead = a.shape[:-2]
    return np.concatenate([_raveled(u, lead), s, _raveled(vh, lead)], axis=-1)


def _raveled(x, lead):
    """The matrices of the stack `x` (leading axes `lead`) raveled: sizes given, as the stack
    may be empty."""
    shape = _shape(x)
    return _reshape(x, tuple(lead) + (shape[-2] * shape[-1],))


def _svd_unpack(p, m, n):
    k, lead = min(m, n), tuple(_shape(p)[:-1])
    u = _reshape(p[..., : m * k], lead + (m, k))
    vh = _reshape(p[..., m * k + k :], lead + (k, n))
    return u, p[..., m * k : m * k + k], vh


def _svd_pack(u, s, vh):
    lead = tuple(_shape(s)[:-1])
    return _concatenate_adapter([_raveled(u, lead), s, _raveled(vh, lead)], -1)


def _refuse_zero(s, what, coupling):
    """Vectors outside the span of a rank-deficient matrix: as `_refuse_repeated`, for s = 0."""
    ps = np.asarray(primal(s))
    if np.any(ps <= _repeat_tol(s)[..., 0]) and np.any(np.asarray(primal(coupling)) != 0):
        raise ValueError(
            f"the singular vectors of a non-square matrix of lower rank have no derivative ({what}"
            "); differentiate the singular values alone (np.linalg.svd(..., compute_uv=False))."
        )


def _svd_vjp(g, ans, a):
    r"""$\bar A = U[(F \circ (J - J^\top))S + \bar S + S(F \circ (K - K^\top))]V^\top$ plus the
    parts outside the spans of $U$ and $V$, with $J = U^\top \bar U$, $K = V^\top \bar V$ and
    $F_{ij} = 1/(s_j^2 - s_i^2)$ (J. Townsend, "Differentiating the singular value decomposition",
    2016)."""
    m, n = a.shape[-2:]
    (u, s, vh), (gu, gs, gvh) = _svd_unpack(ans, m, n), _svd_unpack(g, m, n)
    v, gv = _mT(vh), _mT(gvh)
    j, k = _mT(u) @ gu, _mT(v) @ gv
    cols, rows = s[..., None, :], s[..., :, None]  # (scale the columns, the rows, by s)
    _refuse_repeated(s, np.abs(j) + np.abs(k), "singular vectors")
    f = _gaps(s * s)
    r = u @ ((f * (j - _mT(j))) * cols + _diag_embed(gs) + rows * (f * (k - _mT(k)))) @ vh
    if m > n:
        _refuse_zero(s, "the columns of U", gu)
        r = r + ((gu - u @ j) / cols) @ vh
    if n > m:
        _refuse_zero(s, "the rows of Vh", gvh)
        r = r + u @ ((gvh - _mT(k) @ vh) / rows)
    return r


def _svd_jvp(t, ans, a):
    m, n = a.shape[-2:]
    u, s, vh = _svd_unpack(ans, m, n)
    v = _mT(vh)
    dp = _mT(u) @ t @ v
    cols, rows = s[..., None, :], s[..., :, None]
    _refuse_repeated(s, dp, "singular vectors")
    f = _gaps(s * s)
    du = u @ (f * (dp * cols + rows * _mT(dp)))
    dv = v @ (f * (rows * dp + _mT(dp) * cols))
    if m > n:
        _refuse_zero(s, "the columns of U", t)
        tv = t @ v
        du = du + (tv - u @ (_mT(u) @ tv)) / cols
    if n > m:
        _refuse_zero(s, "the rows of Vh", t)
        tu = _mT(t) @ u
        dv = dv + (tu - v @ (_mT(v) @ tu)) / cols
    return _svd_pack(du, _diagonal(dp, 0, -2, -1), _mT(dv))


defvjp(_svd_packed, _svd_vjp)
defjvp(_svd_packed, _svd_jvp)


@primitive
def _svdvals(a):
    return np.linalg.svd(a, compute_uv=False)


def _svd_vectors(a):
    m, n = _shape(a)[-2:]
    u, _, vh = _svd_unpack(apply(_svd_packed, a), m, n)
    return u, vh


def _svdvals_vjp(g, ans, a):  # U diag(g) V^T
    u, vh = _svd_vectors(a)
    return (u * g[..., None, :]) @ vh


def _svdvals_jvp(t, ans, a):  # diag(U^T t V)
    u, vh = _svd_vectors(a)
    return np.sum(u * (t @ _mT(vh)), axis=-2)


defvjp(_svdvals, _svdvals_vjp)
defjvp(_svdvals, _svdvals_jvp)


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if _ndim(a) < 2:
        raise np.linalg.LinAlgError(
            f"{_ndim(a)}-dimensional array given. Array must be at least two-dimensional"
        )
    if not compute_uv and hermitian:  # NumPy's recipe: the eigenvalues' sizes, decreasing
        return np.sort(np.abs(_eigvalsh_adapter(a)), axis=-1)[..., ::-1]
    if not compute_uv:
        return apply(_svdvals, a)
    m, n = _shape(a)[-2:]
    if hermitian:  # NumPy's recipe: eigh, the values' sizes in decreasing order, signs in vh
        w, v = _eigh(a)
        order = np.argsort(np.abs(primal(w)), axis=-1)[..., ::-1]  # (as NumPy sorts them)
        # (constant; as NumPy's, copysign: a zero eigenvalue's sign is +1 or -1, never 0)
        sign = np.take_along_axis(np.copysign(1.0, primal(w)), order, axis=-1)
        u = np.take_along_axis(v, order[..., None, :], axis=-1)
        s = np.take_along_axis(np.abs(w), order, axis=-1)
        return _SVDResult(u, s, _mT(u * sign[..., None, :]))
    if full_matrices and m != n:
        raise NotImplementedError(
            f"numpy.linalg.svd of a {m} x {n} matrix with full_matrices=True: the extra "
            f"{abs(m - n)} singular vectors are any basis of a space, with no derivative; pass "
            "full_matrices=False."
        )
    return _SVDResult(*_svd_unpack(apply(_svd_packed, a), m, n))


FUNCTIONS.update(
    {
        np.linalg.eigh: _eigh, np.linalg.eigvalsh: _eigvalsh_adapter, np.linalg.svd: _svd,
        np.linalg.svdvals: lambda x, /: _svd(x, compute_uv=False),
    }
)  # fmt: skip


# --- QR decomposition: Q and R packed side by side, as the decompositions above -----------------
_QRResult = type(np.linalg.qr(np.eye(1)))


@primitive
def _qr_packed(a, complete):
    """NumPy's Q (m x k) and R (k x n), each raveled, side by side.

    `k = min(m, n)`, or `k = m` for `mode="complete"` of a tall matrix (`complete=True`).
    """
    q, r = np.linalg.qr(a, mode="complete" if complete else "reduced")
    lead = a.shape[:-2]
    return np.concatenate([_raveled(q, lead), _raveled(r, lead)], axis=-1)


def _qr_unpack(p, m, n, k):
    lead = tuple(_shape(p)[:-1])
    return _reshape(p[..., : m * k], lead + (m, k)), _reshape(p[..., m * k :], lead + (k, n))


def _copyltu(x):
    """The symmetric matrix with the lower triangle (and diagonal) of `x`."""
    return _triangle(x, 0, True) + _mT(_triangle(x, -1, True))


def _refuse_rank_deficient(r):
    """Q's columns beyond A's rank are any basis of a space: no derivative (R square here)."""
    d = np.abs(np.diagonal(np.asarray(primal(r)), 0, -2, -1))
    if np.any(d <= 16 * np.finfo(d.dtype).eps * np.max(d, axis=-1, initial=0)[..., None]):
        raise ValueError(
            "numpy.linalg.qr of a matrix whose columns are linearly dependent (a 0 on the "
            "diagonal of R; for a wide M x N matrix, among its first M columns): the columns of Q "
            "beyond the rank are any basis of a space, so Q and R have no derivative there."
        )


def _refuse_complement(m, n, forward):
    """The last m - n columns of a complete Q: LAPACK's basis of a space, where any would do.

    (They are a smooth function of A, the product of NumPy's Householder reflections, but their
    derivative is that algorithm's, not the factorization's: S.-A. Papanicolopulos, "Derivatives
    of the full QR factorisation and of the factored-form and compact WY representations",
    arXiv:2409.13374, derives it.)
    """
    why = (
        "forward mode (jvp, jacfwd, hessian) computes the tangent of all of Q, and"
        if forward
        else "the result depends on"
    )
    raise ValueError(
        f"numpy.linalg.qr(a, mode='complete') of a tall {m} x {n} matrix: {why} the last {m - n} "
        "columns of Q, LAPACK's (Householder) basis of the complement of the column space of a, "
        "where any orthonormal basis would do; calcbook does not differentiate them. Use "
        "mode='reduced' (the first N columns of Q, and the rows of R that are not 0); the "
        "projector onto the complement is I - Q @ Q.T."
    )


def _qr_square_vjp(q, r, gq, gr):
    r"""$\bar A = (\bar Q + Q \operatorname{copyltu}(R \bar R^\top - \bar Q^\top Q)) R^{-\top}$.

    The adjoint of the JVP rule below: with $M = R \bar R^\top - \bar Q^\top Q$, the symmetric
    $\operatorname{copyltu}(M)$ (the lower triangle of $M$ and its mirror image) is the adjoint of
    that rule's map $C \mapsto U$, applied to $M^\top$. (S. F. Walter and L. Lehmann derive the
    derivatives of the rectangular QR decomposition in both modes: "Algorithmic differentiation of
    linear algebra functions with application in optimum experimental design (extended version)",
    arXiv:1001.1654.)
    """
    s = _copyltu(r @ _mT(gr) - _mT(gq) @ q)  # (its callers refused dependent columns)
    return _mT(_solve(r, _mT(gq + q @ s)))


def _qr_square_jvp(q, r, t):
    r"""Of $A = QR$ with R square ($m \ge n$): $dQ = dA R^{-1} - Q U$ and $dR = U R$.

    From $Q^\top dA R^{-1} = C = Q^\top dQ + dR R^{-1}$, antisymmetric plus upper triangular:
    $U = dR R^{-1}$ is the upper triangle of $C$ plus the mirror image of its strict lower one.
    """
    w = _mT(_solve(_mT(r), _mT(t)))  # dA R^-1 (its callers refused dependent columns)
    c = _mT(q) @ w
    u = _triangle(c, 0, False) + _mT(_triangle(c, -1, True))
    return w - q @ u, u @ r


def _refuse_unreflected(a):
    """Where a column is already 0 below its pivot, LAPACK applies no reflection (tau = 0) and
    R keeps the pivot's sign, while any perturbation reflects and flips it: NumPy's factors jump
    there (a triangular matrix, the identity), so they have no derivative."""
    pa = np.asarray(primal(a))
    m, n = pa.shape[-2:]
    steps = min(m - 1, n)  # (the Householder steps with entries below the pivot)
    if not pa.size:  # (no matrices, or empty ones: no steps)
        return
    tau = np.stack([np.linalg.qr(b, mode="raw")[1] for b in pa.reshape((-1, m, n))])
    if np.any(tau[..., :steps] == 0):
        raise ValueError(
            "numpy.linalg.qr at a matrix with a column that is already 0 below its pivot (a "
            "triangular matrix, the identity): LAPACK reflects nothing there, and under any "
            "perturbation it reflects and flips the sign of that row of R and column of Q, so "
            "NumPy's factors jump and have no derivative at this point. Move the point off it, "
            "or differentiate what does not depend on those signs (Q @ Q.T, R.T @ R, |diag R|)."
        )


def _refuse_jumps(a, r):
    """Refuse the points where Q and R have no derivative: dependent columns, then tau = 0.

    (In that order: at dependent columns LAPACK may find a column exactly 0 below its pivot, or
    only nearly, depending on the kernel; the first reason is the one that explains the point.)
    """
    k = min(a.shape[-2:])
    _refuse_rank_deficient(np.asarray(primal(r))[..., :k, :k])
    _refuse_unreflected(a)


def _qr_vjp(g, ans, a, complete):
    m, n = a.shape[-2:]
    k = m if complete else min(m, n)
    (q, r), (gq, gr) = _qr_unpack(ans, m, n, k), _qr_unpack(g, m, n, k)
    _refuse_jumps(a, r)
    if complete:  # (R's last m - n rows are 0 whatever a is: their cotangent does not count)
        if np.any(np.asarray(primal(gq))[..., n:] != 0):
            _refuse_complement(m, n, forward=False)
        return _qr_square_vjp(q[..., :n], r[..., :n, :], gq[..., :n], gr[..., :n, :])
    if m >= n:
        return _qr_square_vjp(q, r, gq, gr)
    # wide: A = [X | Y] with X square, X = Q R_X and R_Y = Q^T Y
    gy = gr[..., m:]
    gx = _qr_square_vjp(q, r[..., :m], gq + a[..., m:] @ _mT(gy), gr[..., :m])
    return _concatenate_adapter([gx, q @ gy], axis=-1)


def _qr_jvp(t, ans, a, complete):
    m, n = a.shape[-2:]
    q, r = _qr_unpack(ans, m, n, m if complete else min(m, n))
    _refuse_jumps(a, r)
    if complete:
        _refuse_complement(m, n, forward=True)
    if m >= n:
        dq, dr = _qr_square_jvp(q, r, t)
    else:  # wide: as in the VJP, dR_Y = dQ^T Y + Q^T dY
        dq, dx = _qr_square_jvp(q, r[..., :m], t[..., :m])
        dy = _mT(dq) @ a[..., m:] + _mT(q) @ t[..., m:]
        dr = _concatenate_adapter([dx, dy], axis=-1)
    lead = tuple(_shape(dr)[:-2])
    return _concatenate_adapter([_raveled(dq, lead), _raveled(dr, lead)], -1)


defvjp(_qr_packed, _qr_vjp)
defjvp(_qr_packed, _qr_jvp)


def _qr(a, mode="reduced"):
    if mode in ("f", "full"):  # (as NumPy: deprecated, the same as "reduced")
        warnings.warn(
            "The 'full' option is deprecated in favor of 'reduced'.\nFor backward compatibility "
            "let mode default.",
            DeprecationWarning,
            stacklevel=3,
        )
        mode = "reduced"
    if mode in ("raw", "e", "economic"):
        raise NotImplementedError(
            f"numpy.linalg.qr(a, mode={mode!r}) is not supported on traced arrays (LAPACK's "
            "Householder reflectors, not Q); use mode='reduced', 'complete' or 'r'."
        )
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    if _ndim(a) < 2:
        raise np.linalg.LinAlgError(
            f"{_ndim(a)}-dimensional array given. Array must be at least two-dimensional"
        )
    m, n = _shape(a)[-2:]
    complete = mode == "complete" and m > n
    q, r = _qr_unpack(apply(_qr_packed, a, complete=complete), m, n, m if complete else min(m, n))
    return r if mode == "r" else _QRResult(q, r)


FUNCTIONS[np.linalg.qr] = _qr


# --- tensorsolve, tensorinv: solve and inv of the array reshaped to a square matrix -------------
def _tensorsolve(a, b, axes=None):
    nd = _ndim(a)
    if axes is not None:  # (NumPy's steps: the axes named move to the end, in order)
        order = list(range(nd))
        for k in axes:
            order.remove(k)
            order.insert(nd, k)
        a = _transpose(a, order) if isinstance(a, Tracer) else np.transpose(a, order)
    shape = _shape(a)[-(nd - _ndim(b)) :]
    size = math.prod(shape)
    if math.prod(_shape(a)) != size**2:
        raise np.linalg.LinAlgError(
            "Input arrays must satisfy the requirement "
            "prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])"
        )
    return _reshape(_solve_adapter(_reshape(a, (size, size)), _reshape(b, (-1,))), shape)


def _tensorinv(a, ind=2):
    if not ind > 0:
        raise ValueError("Invalid ind argument.")
    shape = tuple(_shape(a))
    inverse = apply(_inv, _reshape(a, (math.prod(shape[ind:]), -1)))
    return _reshape(inverse, shape[ind:] + shape[:ind])


FUNCTIONS.update({np.linalg.tensorsolve: _tensorsolve, np.linalg.tensorinv: _tensorinv})


# --- norms, condition numbers -------------------------------------------------------------------
def _norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    nd = _ndim(x)
    if axis is None:
        if ord is None:  # the 2-norm of all entries, whatever the shape
            return _root(np.sum(x * x, axis=tuple(range(nd)), keepdims=keepdims))
        if nd not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(nd))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if len(axes) == 1:
        return _vector_norm(x, ord, _axes(axes, nd), keepdims)
    if len(axes) != 2:
        raise ValueError("Improper number of dimensions to norm.")
    row, col = (int(a) % nd for a in axes)
    if ord in (None, "fro"):
        return _root(np.sum(x * x, axis=(row, col), keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):  # the largest (smallest) column (row) sum of |x|
        inner, outer = (row, col) if ord in (1, -1) else (col, row)
        sums = np.sum(np.abs(x), axis=inner, keepdims=True)
        if ord > 0:  # (0 of no sums, NumPy's initial=0; the smallest of none has no value)
            r = np.max(sums, axis=outer, keepdims=True, initial=0)
        else:
            r = np.min(sums, axis=outer, keepdims=True)
        return r if keepdims else _squeeze(r, (row, col))
    if ord in (2, -2, "nuc"):
        return _matrix_norm_by_svd(x, ord, row, col, keepdims)
    raise ValueError("Invalid norm order for matrices.")


def _vector_norm(x, ord, axes, keepdims):  # noqa: A002
    if isinstance(ord, (np.generic, np.ndarray)) and not np.ndim(ord):
        ord = ord.item()  # noqa: A001 - (a Python number: it keeps a float32 x float32)
    if ord is None or ord == 2:
        return _root(np.sum(x * x, axis=axes, keepdims=keepdims))
    if ord == np.inf:  # (0 of no entries: NumPy's initial=0)
        return np.max(np.abs(x), axis=axes, keepdims=keepdims, initial=0)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axes, keepdims=keepdims)
    if ord == 0:
        return np.sum(primal(x) != 0, axis=axes, keepdims=keepdims).astype(x.dtype)
    if ord == 1:
        return np.sum(np.abs(x), axis=axes, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order {ord!r} for vectors")
    if not math.prod(_shape(x)[a] for a in axes):  # no entries: a constant, 0 (inf if ord < 0),
        x = primal(x)  # whose forward derivative 0 ** (1 / ord - 1) times 0 would make NaN
    return np.sum(np.abs(x) ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm_by_svd(x, ord, row, col, keepdims):  # noqa: A002
    s = apply(_svdvals, _moveaxis(x, (row, col), (-2, -1)))
    if ord == "nuc":
        r = np.sum(s, axis=-1)
    elif ord == 2:  # (0 for an empty matrix, as NumPy's; the smallest of none has no value)
        r = np.max(s, axis=-1, initial=0.0)
    else:
        r = np.min(s, axis=-1)
    if keepdims:
        r = _expand_dims(r, tuple(sorted((row, col))))
    return r


def _cond(x, p=None):
    if p in (None, 2, -2):
        s = apply(_svdvals, x)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    return _norm(x, p, (-2, -1)) * _norm(apply(_inv, x), p, (-2, -1))


FUNCTIONS.update(
    {
        np.linalg.norm: _norm,
        np.linalg.matrix_norm: lambda x, /, *, keepdims=False, ord="fro": _norm(
            x, ord, (-2, -1), keepdims),
        np.linalg.vector_norm: lambda x, /, *, axis=None, keepdims=False, ord=2: _vector_norm(
            x, ord, _axes(axis, _ndim(x)), keepdims),
        np.linalg.cond: _cond,
    }
)  # fmt: skip


# --- pseudo-inverse and least squares -----------------------------------------------------------
@primitive
def _pinv(a, opts):
    return np.linalg.pinv(a, **dict(opts))


def _pinv_jvp(t, ans, a, opts):  # Golub and Pereyra (1973), at a matrix of full rank
    ta = _mT(t)
    gap_rows = np.eye(a.shape[-2], dtype=a.dtype) - a @ ans  # I - A A^+, and I - A^+ A
    gap_cols = np.eye(a.shape[-1], dtype=a.dtype) - ans @ a
    return -ans @ t @ ans + ans @ _mT(ans) @ ta @ gap_rows + gap_cols @ ta @ _mT(ans) @ ans


def _pinv_vjp(g, ans, a, opts):  # the adjoint of the map above
    gt, pt = _mT(g), _mT(ans)
    gap_rows = np.eye(a.shape[-2], dtype=a.dtype) - a @ ans
    gap_cols = np.eye(a.shape[-1], dtype=a.dtype) - ans @ a
    return -pt @ g @ pt + gap_rows @ gt @ ans @ pt + pt @ ans @ gt @ gap_cols


defvjp(_pinv, _pinv_vjp)
defjvp(_pinv, _pinv_jvp)


def _pinv_adapter(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    opts = {"rcond": rcond, "hermitian": hermitian}
    if rtol is not np._NoValue:
        opts["rtol"] = rtol
    pa = np.asarray(primal(a))
    if pa.ndim < 2:
        raise np.linalg.LinAlgError(
            f"{pa.ndim}-dimensional array given. Array must be at least two-dimensional"
        )
    if hermitian:  # NumPy (through eigh) reads the lower triangle: the other has derivative 0
        a = _copyltu(a)
        pa = np.asarray(primal(a))
    s = np.linalg.svd(pa, compute_uv=False)
    tol = rcond if rcond is not None else rtol if rtol is not np._NoValue else None
    if tol is None:  # (NumPy's default cutoff)
        tol = max(pa.shape[-2:]) * np.finfo(np.result_type(pa, 1.0)).eps
    if np.any(s <= np.asarray(tol)[..., None] * s[..., :1]):  # (NumPy's cutoff, rcond or rtol)
        raise ValueError(
            "numpy.linalg.pinv of a matrix of lower rank than its smaller side (or with singular "
            "values below the cutoff rcond/rtol sets) jumps under small changes, so calcbook "
            "differentiates it only at full rank, with every singular value above the cutoff."
        )
    return apply(_pinv, a, opts=tuple(opts.items()))


@primitive
def _lstsq_x(a, b, rcond):
    """NumPy's least-squares solution (LAPACK's gelsd) of a full-rank `a`, `b` a matrix."""
    return np.linalg.lstsq(a, b, rcond)[0]


@primitive
def _lstsq_residuals(a, b, rcond):
    """NumPy's sums of squared residuals, one per column of `b` (a tall `a` of full rank)."""
    return np.linalg.lstsq(a, b, rcond)[1]


@primitive
def _lstsq_s(a, rcond):
    """NumPy's singular values of `a`, as lstsq gives them (gelsd's, not svd's)."""
    return np.linalg.lstsq(a, np.zeros(a.shape[0], a.dtype), rcond)[3]


def _lstsq_parts(a, b, x, rcond):
    p = _pinv_adapter(a, rcond)
    return p, b - a @ x, np.eye(a.shape[-1], dtype=a.dtype) - p @ a  # A^+, r, I - A^+ A


# x = A^+ b, so dx = dA^+ b + A^+ db, with dA^+ as in `_pinv_jvp` (full rank)
def _lstsq_x_jvp_a(t, ans, a, b, rcond):
    p, r, gap_cols = _lstsq_parts(a, b, ans, rcond)
    ta = _mT(t)
    return -p @ t @ ans + p @ _mT(p) @ ta @ r + gap_cols @ ta @ _mT(p) @ ans


def _lstsq_x_vjp_a(g, ans, a, b, rcond):  # the adjoint of the map above
    p, r, gap_cols = _lstsq_parts(a, b, ans, rcond)
    pt = _mT(p)
    return -pt @ g @ _mT(ans) + r @ _mT(p @ pt @ g) + pt @ ans @ _mT(gap_cols @ g)


defjvp(_lstsq_x, _lstsq_x_jvp_a, lambda t, ans, a, b, rcond: _pinv_adapter(a, rcond) @ t)
defvjp(_lstsq_x, _lstsq_x_vjp_a, lambda g, ans, a, b, rcond: _mT(_pinv_adapter(a, rcond)) @ g)


# |b_k - A x_k|^2 at the solution, where A^T r_k = 0: its derivative is 2 r_k^T (db_k - dA x_k)
def _residual_of(a, b, rcond):
    return b - a @ _lstsq_x(a, b, rcond=rcond)


def _residuals_jvp_a(t, ans, a, b, rcond):
    r = _residual_of(a, b, rcond)
    return -2 * np.sum(r * (t @ _lstsq_x(a, b, rcond=rcond)), axis=-2)


defjvp(
    _lstsq_residuals,
    _residuals_jvp_a,
    lambda t, ans, a, b, rcond: 2 * np.sum(_residual_of(a, b, rcond) * t, axis=-2),
)
defvjp(
    _lstsq_residuals,
    lambda g, ans, a, b, rcond: (
        -2 * (_residual_of(a, b, rcond) * g) @ _mT(_lstsq_x(a, b, rcond=rcond))
    ),
    lambda g, ans, a, b, rcond: 2 * _residual_of(a, b, rcond) * g,
)
defjvp(_lstsq_s, lambda t, ans, a, rcond: _svdvals_jvp(t, ans, a))
defvjp(_lstsq_s, lambda g, ans, a, rcond: _svdvals_vjp(g, ans, a))


def _lstsq(a, b, rcond=None):
    a, b = _array(a), _array(b)
    dtype = np.result_type(primal(a), primal(b), 1.0)  # (NumPy solves in the common precision)
    a, b = (c if c.dtype == dtype else FUNCTIONS["astype"](c, dtype) for c in (a, b))
    pa = np.asarray(primal(a))
    m, n = pa.shape
    rank = np.linalg.lstsq(pa, np.asarray(primal(b)), rcond)[2]  # (NumPy's rank, its dtype)
    if rank < min(m, n):
        raise ValueError(
            "numpy.linalg.lstsq of a matrix of lower rank than its smaller side (by rcond's "
            "cutoff) jumps under small changes, so calcbook differentiates it only at full rank."
        )
    # NumPy's values (gelsd's) to the last bit; their derivatives those of A^+ b at full rank
    vector = _ndim(b) == 1
    cols = _reshape(b, (-1, 1)) if vector else b
    x = _lstsq_x(a, cols, rcond=rcond)
    s = _lstsq_s(a, rcond=rcond)
    if m > n:
        residuals = _lstsq_residuals(a, cols, rcond=rcond)
    else:
        residuals = np.empty((0,), dtype=np.result_type(pa, primal(b)))
    return (x[:, 0] if vector else x), residuals, rank, s


FUNCTIONS.update({np.linalg.pinv: _pinv_adapter, np.linalg.lstsq: _lstsq})
# the rank: a whole number, piecewise constant (as the rounding functions are)
NONDIFF.add(np.linalg.matrix_rank)


# --- multi_dot; NumPy 2's vector and matrix products (generalised ufuncs); array-API aliases ----
def _multi_dot(arrays, *, out=None):
    """`np.linalg.multi_dot`: NumPy's checks, and its order of the products (the cheapest)."""
    _no_extras("linalg.multi_dot", out=out)
    arrays = [_array(a) for a in arrays]  # (lists too, as NumPy's)
    n = len(arrays)
    if n < 2:
        raise ValueError("Expecting at least two arrays.")
    if n == 2:
        return np.dot(arrays[0], arrays[1])
    first, last = _ndim(arrays[0]), _ndim(arrays[-1])
    if first == 1:  # a row
        arrays[0] = _reshape(arrays[0], (1, -1))
    if last == 1:  # a column
        arrays[-1] = _reshape(arrays[-1], (-1, 1))
    for a in arrays:
        if _ndim(a) != 2:
            raise np.linalg.LinAlgError(
                f"{_ndim(a)}-dimensional array given. Array must be two-dimensional"
            )
    split = _chain_order([_shape(a) for a in arrays])

    def product(i, j):  # of arrays i..j, split where the chain order says
        if i == j:
            return arrays[i]
        return np.dot(product(i, split[i][j]), product(split[i][j] + 1, j))

    result = product(0, n - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    return _reshape(result, (-1,)) if first == 1 or last == 1 else result


def _chain_order(shapes):
    """The split of each run i..j of matrices of `shapes` whose products cost least (the
    matrix-chain order, as NumPy's multi_dot finds it: ties go to the first split)."""
    n = len(shapes)
    p = [shape[0] for shape in shapes] + [shapes[-1][1]]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                if q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def _vecdot(x1, x2, /, out=None, *, axis=-1, keepdims=False, **kwargs):
    _no_extras("vecdot", out=out, **kwargs)
    # (NumPy's checks on the plain values: the core axes' sizes must be equal, not broadcast)
    np.vecdot(np.asarray(primal(x1)), np.asarray(primal(x2)), axis=axis, keepdims=keepdims)
    # a row times a column per pair, as NumPy's loop takes each dot product (BLAS), to the last bit
    x1, x2 = np.moveaxis(_array(x1), axis, -1), np.moveaxis(_array(x2), axis, -1)
    r = (x1[..., None, :] @ x2[..., :, None])[..., 0, 0]
    if keepdims:
        return np.expand_dims(r, axis)
    return r if _ndim(r) else r[()]  # (a NumPy scalar for one pair, as NumPy's gufunc gives)


def _matvec(x1, x2, /, out=None, **kwargs):
    _no_extras("matvec", out=out, **kwargs)
    x1, x2 = _array(x1), _array(x2)
    return (x1 @ x2[..., None])[..., 0]


def _vecmat(x1, x2, /, out=None, **kwargs):
    _no_extras("vecmat", out=out, **kwargs)
    x1, x2 = _array(x1), _array(x2)
    return (x1[..., None, :] @ x2)[..., 0, :]


def _core_axes(ufunc, inputs, kwargs):
    """`ufunc(*inputs, axes=...)` of a generalised ufunc (`matmul`, `vecdot`, `matvec`, `vecmat`)
    on traced arrays: each input's core axes moved to its end, in the order `axes` lists them, the
    ufunc called without `axes`, and the result's core axes moved from its end to where `axes`
    puts them. NumPy checks `axes` first, on the plain values (its errors, its result's shape)."""
    kwargs = dict(kwargs)
    axes = kwargs.pop("axes")
    ufunc(*(np.asarray(primal(x)) for x in inputs), axes=axes, **kwargs)

    def places(core, nd):  # an entry of `axes` (an int, or a tuple) as axes >= 0, and at the end
        core = [core] if isinstance(core, (int, np.integer)) else list(core)
        return [a % nd for a in core], range(nd - len(core), nd)

    moved = []
    for x, core in zip(inputs, axes, strict=False):
        x = _array(x)
        moved.append(np.moveaxis(x, *places(core, _ndim(x))))
    r = ufunc(*moved, **kwargs)
    if len(axes) > len(inputs):  # (an output's entry: its core axes, which may be none)
        given, end = places(axes[len(inputs)], _ndim(r))
        r = np.moveaxis(r, end, given)
    return r


for _gufunc in (np.matmul, np.vecdot, np.matvec, np.vecmat):
    CORE_AXES[_gufunc] = _core_axes


FUNCTIONS.update(
    {
        np.linalg.multi_dot: _multi_dot, np.vecdot: _vecdot, np.matvec: _matvec, np.vecmat: _vecmat,
        np.linalg.vecdot: lambda x1, x2, /, *, axis=-1: _vecdot(x1, x2, axis=axis),
        np.linalg.matmul: lambda x1, x2, /: x1 @ x2,
        np.linalg.outer: lambda x1, x2, /: _outer(x1, x2),
        np.linalg.cross: lambda x1, x2, /, *, axis=-1: _cross(x1, x2, axis=axis),
        np.linalg.diagonal: lambda x, /, *, offset=0: _diagonal(x, offset, -2, -1),
        np.linalg.trace: lambda x, /, *, offset=0, dtype=None: _trace(x, offset, -2, -1, dtype),
        np.linalg.tensordot: lambda x1, x2, /, *, axes=2: _tensordot(x1, x2, axes),
        np.linalg.matrix_transpose: _mT,
    }
)  # fmt: skip
