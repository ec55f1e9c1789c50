"""The Gaussian model with its linear parameters integrated out.

With a normal outcome the model is linear-Gaussian given the variance
parameters phi = (group sds, their correlation, sigma): the intercept, the
population coefficients ``b`` and the group offsets ``u`` have a joint normal
prior, and the likelihood is normal in them. So

    p(phi, beta | y) = p(phi | y) * p(beta | phi, y),   beta = (Intercept, b, u),

and both factors are exact in closed form up to the normalising constant of
p(phi | y): the marginal likelihood p(y | phi) is a ratio of normal densities,
and p(beta | phi, y) is normal. NUTS then samples only phi (4 numbers in the
nested structure, 3 per varying modifier plus sigma in the additive one), and
each kept draw of phi is completed by one exact draw of beta from its
conditional. The joint draws come from the same posterior as sampling
everything together, but the sampled space is small and well conditioned
(no funnel between offsets and their scale, no ridge between the intercept
and the offsets), so draws need a few leapfrog steps instead of dozens, and
the cost per step does not grow with the number of rows.

Everything enters through the per-group sufficient statistics of
:mod:`._statistics`. Writing the posterior precision of beta as
``Prec = M'M / sigma^2 + D^-1`` (``M`` the full design, ``D`` the prior
covariance) and ``r = M'y / sigma^2 + D^-1 m0``,

    log p(y | phi) = -n/2 log(2 pi sigma^2) - y'y / (2 sigma^2) - m0' D^-1 m0 / 2
                     - log|D| / 2 - log|Prec| / 2 + r' Prec^-1 r / 2.

In the nested structure the groups' block of ``Prec`` is block diagonal (one
block of size 1 + effects per group), so it is eliminated group by group (a Schur
complement), in the coordinates of the group-level regression (see
``_nested_system``), and the cost per gradient is
O(groups x (terms x (1 + group predictors))^2 + columns^3).
The additive structure's offsets are few (levels, not groups) but overlap
across modifiers, so its system is solved densely.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from .._base.families import family_of
from .._base.spec import Priors, in_units
from .._data.sufficient_statistics import GaussianStatistics
from .hierarchical import ModelSizes, noise_prior, variance_priors, with_fixed_slopes
from .model_data import AdditiveLevels, ModelData


# ------------------------------------------------------------------ small-block algebra
# Each group's block is (1 + effects) square: a handful of rows. It is held as a
# nested list of its entries, each an array over all groups (or a scalar shared by
# them), and factored, inverted and multiplied entry by entry over that static size.
# Everything per group is then elementwise, so XLA fuses the whole chain (and its
# gradient) into a few loops over the groups. Batched matrix products, or sums over a
# broadcast axis, would each end a fusion, and on a CPU every compiled operation costs
# about half a microsecond to launch: more than its arithmetic on arrays this small.
# Entries known to be zero are the Python float 0.0 and drop out of the products.
def _is_zero(x) -> bool:
    return isinstance(x, float) and x == 0.0


def _sum_of_products(pairs):
    terms = [a * b for a, b in pairs if not (_is_zero(a) or _is_zero(b))]
    return sum(terms[1:], terms[0]) if terms else 0.0


def _entries(a, *, lower: bool = False) -> list:
    """The entries of ``a`` (``(..., R, C)``) as lists of arrays over the leading axes;
    ``lower``: the entries above the diagonal are zero."""
    rows, cols = a.shape[-2], a.shape[-1]
    return [[0.0 if lower and j > i else a[..., i, j] for j in range(cols)] for i in range(rows)]


def _assembled(entries, like) -> jnp.ndarray:
    """Entries back into one ``(..., R, C)`` array, shaped over the leading axes of ``like``."""

    def full(x):
        return jnp.broadcast_to(jnp.asarray(x, dtype=like.dtype), like.shape)

    return jnp.stack([jnp.stack([full(x) for x in row], -1) for row in entries], -2)


def _entry_product(a, b) -> list:
    return [[_sum_of_products([(a[i][k], b[k][j]) for k in range(len(b))])
             for j in range(len(b[0]))] for i in range(len(a))]  # fmt: skip


def _symmetric_product(a, b) -> list:
    """``a @ b`` where the product is known to be symmetric: the lower triangle computed,
    the upper one its mirror."""
    size = len(a)
    out = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1):
            out[i][j] = _sum_of_products([(a[i][k], b[k][j]) for k in range(len(b))])
            out[j][i] = out[i][j]
    return out


def _entry_transpose(a) -> list:
    return [list(column) for column in zip(*a, strict=True)]


def _entry_cholesky(a) -> list:
    """Lower Cholesky factor of a positive-definite matrix given by its entries."""
    size = len(a)
    factor = [[0.0] * size for _ in range(size)]
    for j in range(size):
        factor[j][j] = jnp.sqrt(a[j][j] - _sum_of_products([(factor[j][k], factor[j][k])
                                                            for k in range(j)]))  # fmt: skip
        for i in range(j + 1, size):
            off = a[i][j] - _sum_of_products([(factor[i][k], factor[j][k]) for k in range(j)])
            factor[i][j] = off / factor[j][j]
    return factor


def _entry_inverse_lower(factor) -> list:
    """Inverse of a lower-triangular matrix given by its entries (lower-triangular)."""
    size = len(factor)
    inverse = [[0.0] * size for _ in range(size)]
    for i in range(size):
        inverse[i][i] = 1.0 / factor[i][i]
        for j in range(i):
            total = _sum_of_products([(factor[i][k], inverse[k][j]) for k in range(j, i)])
            inverse[i][j] = -total * inverse[i][i]
    return inverse


#: Up to this size a block's inverse and determinant come from its cofactors.
COFACTOR_MAX_SIZE = 3


def _entry_symmetric_inverse(a) -> tuple[list, jnp.ndarray]:
    """Inverse and log-determinant of a small symmetric positive-definite matrix given by
    its entries, from its cofactors (sizes 1 to ``COFACTOR_MAX_SIZE``).

    One division and one logarithm per group, where a Cholesky factor takes a square root
    per diagonal entry and a division per entry below it: each result of such an
    operation that several others read becomes a loop of its own in the compiled
    program (and in its gradient), and on arrays over a hundred groups each loop costs
    more to launch than its arithmetic. The cancellation in the determinant is the one
    the factor's last pivot has: no less accurate.
    """
    size = len(a)
    if size == 1:
        return [[1.0 / a[0][0]]], jnp.log(a[0][0])
    if size == 2:
        det = a[0][0] * a[1][1] - a[0][1] * a[0][1]
        cofactors = [[a[1][1], -a[0][1]], [-a[0][1], a[0][0]]]
    else:

        def minor(i, j):  # the cofactor of entry (i, j): a 2 x 2 determinant, signed
            rows = [r for r in range(3) if r != i]
            cols = [c for c in range(3) if c != j]
            value = (a[rows[0]][cols[0]] * a[rows[1]][cols[1]]
                     - a[rows[0]][cols[1]] * a[rows[1]][cols[0]])  # fmt: skip
            return value if (i + j) % 2 == 0 else -value

        cofactors = [[None] * 3 for _ in range(3)]
        for i in range(3):
            for j in range(i + 1):
                cofactors[i][j] = cofactors[j][i] = minor(i, j)
        det = sum(a[0][j] * cofactors[0][j] for j in range(3))
    scale = 1.0 / det
    return [[x * scale for x in row] for row in cofactors], jnp.log(det)


def _entry_matrix_product(a, columns) -> jnp.ndarray:
    """``a @ columns`` per group: ``a`` by entries, ``columns`` an array ``(G, D, K)``."""
    return jnp.stack([sum(a[i][k][:, None] * columns[:, k, :] for k in range(len(a[i])))
                      for i in range(len(a))], axis=1)  # fmt: skip


def _inverse_lower(factor):
    """Inverse of a lower-triangular matrix (``(..., D, D)``)."""
    return _assembled(_entry_inverse_lower(_entries(factor, lower=True)), factor[..., 0, 0])


def _cov_precision(scale_tril):
    """Precision and log-determinant of Sigma = S S' (S lower-triangular)."""
    inverse = _inverse_lower(scale_tril)
    return inverse.T @ inverse, 2.0 * jnp.sum(jnp.log(jnp.diag(scale_tril)))


def _population_prior(data: ModelData, priors: Priors, n_coef: int):
    """Prior mean and variance of w = (Intercept - ybar, b), the weights on the centred design."""
    mean = jnp.zeros(n_coef + 1).at[0].set(-data.likelihood.ybar)
    var = jnp.concatenate(
        [jnp.reshape(priors.intercept**2, (1,)), jnp.full(n_coef, priors.coef**2)]
    )
    return mean, var


# ------------------------------------------------------------------ the dense system
@jax.custom_vjp
def log_det_and_quadratic(matrix, vector):
    """``(log|A|, v' A^-1 v)`` of a positive-definite ``A``, through its Cholesky factor.

    Its gradient is written out, ``(g_det A^-1 - g_quad a a', 2 g_quad a)`` with
    ``a = A^-1 v``, rather than traced back through the factorisation and the solve:
    one inverse from the factor where JAX's derivatives of the two take several
    triangular solves and a dozen small operations, each of which costs about as much to
    launch on a CPU as its arithmetic. (``A`` is read symmetrised, as by
    ``jnp.linalg.cholesky``, and the gradient is symmetric.) Reverse mode only, the
    sampler's: forward-mode derivatives (``jax.jvp``, ``jax.hessian``) are not defined.
    """
    chol = jnp.linalg.cholesky(matrix)
    half = jax.scipy.linalg.solve_triangular(chol, vector, lower=True)
    return 2.0 * jnp.sum(jnp.log(jnp.diag(chol))), half @ half


def _log_det_and_quadratic_forward(matrix, vector):
    chol = jnp.linalg.cholesky(matrix)
    eye = jnp.eye(chol.shape[0], dtype=chol.dtype)
    inverse_chol = jax.scipy.linalg.solve_triangular(chol, eye, lower=True)  # A^-1 = C'C
    half = inverse_chol @ vector
    return (2.0 * jnp.sum(jnp.log(jnp.diag(chol))), half @ half), (inverse_chol, half)


def _log_det_and_quadratic_backward(residuals, cotangents):
    inverse_chol, half = residuals
    g_det, g_quad = cotangents
    solved = inverse_chol.T @ half  # A^-1 v
    inverse = inverse_chol.T @ inverse_chol
    return g_det * inverse - g_quad * jnp.outer(solved, solved), 2.0 * g_quad * solved


log_det_and_quadratic.defvjp(_log_det_and_quadratic_forward, _log_det_and_quadratic_backward)


# ------------------------------------------------------------------ nested structure
def _nested_system(data: ModelData, priors: Priors, scale_tril, sigma, *, factored: bool) -> dict:
    """Everything the marginal likelihood and the conditional draws share.

    The nested structure is eliminated in the coordinates of its group-level regression
    (:class:`GroupRegression`): per group ``theta_g`` (the group's intercept and effects,
    the weights of ``v = [1, t]``) with prior ``N(Phi_g a, Sigma)``,
    ``Phi_g = I_D (x) zt_g'``, and the controls' weights ``b``; the outcome is
    ``v' theta_g + c' b`` plus noise. Everything is kept multiplied by ``s2 = sigma^2``
    (the ``~`` quantities), which keeps it exact when sigma is tiny.

    Eliminating ``theta_g`` given ``beta = (a, b)`` takes its precision block
    ``P~_g = B_g + s2 Omega`` (``B_g = sum v v'``, ``Omega = Sigma^-1``), tiny and
    factored entry by entry, with inverse ``F_g``. What is left is a system in ``beta``
    whose group-level block is ``s2 sum_g (Omega F_g B_g) (x) zt_g zt_g'``: its cost grows
    with the square of the number of terms times the group-level predictors, not with the
    square of the whole design, which is what keeps a gradient with several effects cheap.
    The controls enter through ``C_g = sum v c'`` and the outcome through ``r_g = sum v y``,
    handled together as the columns of ``[C_g, r_g]``.

    ``factored``: also the factor ``A_g`` with ``A_g'A_g = F_g``, which the conditional
    draws need. Without it, blocks of up to ``COFACTOR_MAX_SIZE`` terms are inverted from
    their cofactors, the cheaper program to differentiate (the sampler's).
    """
    stats, regression = data.likelihood, data.regression
    zt, to_w = regression.zt, regression.to_w
    n_groups, width = stats.vy.shape
    n_a = to_w.shape[0]
    p = stats.vx.shape[-1] - n_a  # the controls
    s2 = sigma * sigma
    # P~_g = B_g + s2 Sigma^-1 = L^-T Q_g L^-1 with Q_g = L' B_g L + s2 I (Sigma = L L'):
    # Q_g stays well conditioned however small a term's sd, where Sigma^-1 would not (a
    # scale sampled near zero would make P~_g's entries 1e16 and B_g's lost in rounding),
    # and log|P~_g| = log|Q_g| - log|Sigma|, whose last term cancels the prior's.
    # Per group everything is entry by entry (see the small-block algebra above).
    vv = _entries(stats.vv)
    # the variance parameters enter every group's algebra: each is broadcast over the
    # groups once, so that its gradient is one sum over the groups, not one per use
    per_group = stats.vv[..., 0, 0].shape
    factor = [[x if _is_zero(x) else jnp.broadcast_to(x, per_group) for x in row]
              for row in _entries(scale_tril, lower=True)]  # fmt: skip
    s2_groups = jnp.broadcast_to(s2, per_group)
    factor_t = _entry_transpose(factor)
    scaled = _symmetric_product(_entry_product(factor_t, vv), factor)
    for d in range(width):
        scaled[d][d] = scaled[d][d] + s2_groups
    inverse_factor = None
    if width <= COFACTOR_MAX_SIZE and not factored:
        # F_g = L Q_g^-1 L' from Q_g's cofactors: what the likelihood and its gradient need
        inverse_q, logdet_blocks = _entry_symmetric_inverse(scaled)
        inverse = _symmetric_product(_entry_product(factor, inverse_q), factor_t)
    else:  # the draws need a factor of F_g too: F_g = A_g'A_g, A_g = K_g^-1 L', Q_g = K_g K_g'
        blocks = _entry_cholesky(scaled)
        inverse_factor = _entry_product(_entry_inverse_lower(blocks), factor_t)
        inverse = _symmetric_product(_entry_transpose(inverse_factor), inverse_factor)
        logdet_blocks = 2.0 * sum(jnp.log(blocks[d][d]) for d in range(width))
    # Omega F_g = (I - B_g F_g) / s2, from (B_g + s2 Omega) F_g = I: free of Sigma^-1
    weighted = [[((1.0 if i == j else 0.0) - x) / s2_groups for j, x in enumerate(row)]
                for i, row in enumerate(_entry_product(vv, inverse))]  # fmt: skip
    # Omega F_g B_g: symmetric in exact arithmetic, but formed from I - B_g F_g, whose
    # entries cancel to rounding when sigma is tiny; both triangles are kept as computed
    shrunk = _entry_product(weighted, vv)
    # [C_g, r_g]: the controls' and the outcome's sums against v
    columns = jnp.concatenate([stats.vx[:, :, 1 : 1 + p], stats.vy[..., None]], axis=-1)
    solved_columns = _entry_matrix_product(inverse, columns)  # F_g [C_g, r_g]
    like = stats.vv[..., 0, 0]
    shrunk = _assembled(shrunk, like)
    weighted_columns = _entry_matrix_product(weighted, columns)
    # sums over groups: each one matrix product
    outer = (zt[:, :, None] * zt[:, None, :]).reshape(n_groups, -1)  # zt_g zt_g'
    q1 = zt.shape[1]
    group_block = (
        (shrunk.reshape(n_groups, width * width).T @ outer)
        .reshape(width, width, q1, q1).transpose(0, 2, 1, 3).reshape(n_a, n_a)
    )  # fmt: skip
    cross = (
        (zt.T @ weighted_columns.reshape(n_groups, -1))
        .reshape(q1, width, p + 1).transpose(1, 0, 2).reshape(n_a, p + 1)
    )  # sum_g Phi_g' Omega F_g [C_g, r_g]  # fmt: skip
    within = columns.reshape(n_groups * width, p + 1).T @ solved_columns.reshape(
        n_groups * width, p + 1
    )  # sum_g [C_g, r_g]' F_g [C_g, r_g]
    # the prior of w_group = to_w a (independent normals) and of b
    mean_w, var_w = _population_prior(data, priors, n_a + p - 1)
    controls = slice(1, 1 + p)
    var_group = jnp.concatenate([var_w[:1], var_w[1 + p :]])
    var_controls = var_w[controls]
    prior_precision = (to_w.T / var_group) @ to_w
    prior_shift = to_w.T @ (jnp.zeros(n_a).at[0].set(mean_w[0]) / var_group)
    top = jnp.concatenate([s2 * (group_block + prior_precision), s2 * cross[:, :p]], axis=1)
    bottom = jnp.concatenate(
        [s2 * cross[:, :p].T, stats.xtx[controls, controls] - within[:p, :p]
         + jnp.diag(s2 / var_controls)], axis=1,
    )  # fmt: skip
    schur = jnp.concatenate([top, bottom], axis=0)
    rhs = jnp.concatenate([s2 * (cross[:, p] + prior_shift), stats.xty[controls] - within[:p, p]])
    return {
        "s2": s2,
        "matrix": schur,
        "chol": jnp.linalg.cholesky(schur),
        "rhs": rhs,
        "inverse": _assembled(inverse, like),
        "inverse_factor": None if inverse_factor is None else _assembled(inverse_factor, like),
        "weighted": _assembled(weighted, like),
        "columns": columns,
        # y'y - sum_g r_g' F_g r_g, and the prior mean's own term (times s2)
        "constant": stats.yty - within[p, p] + s2 * jnp.sum(mean_w**2 / var_w),
        "logdet_blocks": logdet_blocks,  # log|Q_g|
        "var_w": var_w,
    }


def _nested_loglik(data: ModelData, system: dict) -> jnp.ndarray:
    rhs, s2 = system["rhs"], system["s2"]
    log_det, quadratic = log_det_and_quadratic(system["matrix"], rhs)
    n_groups, width = data.likelihood.vy.shape
    k = rhs.shape[0]
    # log|Prec| = sum_g log|P_g| + log|Schur|, each block carrying 1 / s2, with
    # log|P~_g| = log|Q_g| - log|Sigma|; the -G log|Sigma| cancels the prior's +G log|Sigma|
    log_prec = jnp.sum(system["logdet_blocks"]) + log_det - (width * n_groups + k) * jnp.log(s2)
    log_prior_cov = jnp.sum(jnp.log(system["var_w"]))
    # y'y - r' Prec^-1 r plus the prior mean's term, times s2: the penalised residual sum
    penalised = system["constant"] - quadratic
    return (
        -0.5 * data.likelihood.n_rows * jnp.log(2.0 * jnp.pi * s2)
        - 0.5 * penalised / s2
        - 0.5 * log_prior_cov
        - 0.5 * log_prec
    )


def _nested_conditional(noise, data: ModelData, system: dict) -> dict:
    """One draw of (w, u) from their normal conditional given the variance parameters, from
    ``noise``: standard normals, those of ``beta`` and then those of the groups' terms."""
    chol, rhs, s2 = system["chol"], system["rhs"], system["s2"]
    zt, to_w = data.regression.zt, data.regression.to_w
    n_a = to_w.shape[0]
    scale = jnp.sqrt(s2)
    mean = jax.scipy.linalg.cho_solve((chol, True), rhs)
    beta_noise, theta_noise = noise[: rhs.shape[0]], noise[rhs.shape[0] :]
    beta = mean + scale * jax.scipy.linalg.solve_triangular(chol.T, beta_noise, lower=False)
    a, b = beta[:n_a], beta[n_a:]
    width = data.likelihood.vy.shape[1]
    group_mean = jnp.einsum("di,gi->gd", a.reshape(width, -1), zt)  # Phi_g a
    # theta_g | beta ~ N(F_g h_g, s2 F_g), h_g = r_g - C_g b + s2 Omega Phi_g a
    shifted = system["columns"] @ jnp.concatenate([-b, jnp.ones(1)])  # r_g - C_g b
    centre = jnp.einsum("gde,ge->gd", system["inverse"], shifted) + s2 * jnp.einsum(
        "ged,ge->gd", system["weighted"], group_mean
    )  # F_g Omega = (Omega F_g)'
    e = scale * jnp.reshape(theta_noise, shifted.shape)
    theta = centre + jnp.einsum("gdi,gd->gi", system["inverse_factor"], e)
    w_group = to_w @ a
    w = jnp.concatenate([w_group[:1], b, w_group[1:]])
    return {"w": w, "u": theta - group_mean}


# ------------------------------------------------------------------ additive structure
def additive_normal_equations(
    stats: GaussianStatistics, levels: AdditiveLevels, level_dims, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """``M'M`` and ``M'y`` over (w, level-basis coordinates), from the group statistics.

    Modifier k's offsets per level are ``basis_k @ c_k`` with ``c_k`` of shape
    (dims_k, D), D = ``width``, the terms that vary (1 + effects, or the intercept
    alone); a group's offset is the sum over its levels. Coordinates are flattened in
    (modifier, dim, term) order. These products do not depend on the variance
    parameters, so they are formed once, in NumPy, before sampling.
    """
    vv, vx, vy = (np.asarray(a) for a in (stats.vv, stats.vx, stats.vy))
    vv, vx, vy = vv[:, :width, :width], vx[:, :width], vy[:, :width]
    n_groups, width = vy.shape
    codes = np.asarray(levels.codes)
    maps = []  # per varying modifier: (G, dims) value of each coordinate in each group
    for k, (_, dims) in enumerate(level_dims):
        if dims:
            maps.append(np.asarray(levels.bases[k])[codes[:, k]])
    a = np.concatenate(maps, axis=1) if maps else np.zeros((n_groups, 0))
    n_coords = a.shape[1]
    # T_g: (D, D * n_coords) maps the flattened coordinates to the group's offsets
    T = np.zeros((n_groups, width, width * n_coords))
    for d in range(width):
        T[:, d, d::width] = a
    k1 = vx.shape[2]
    size = k1 + width * n_coords
    mtm = np.zeros((size, size))
    mtm[:k1, :k1] = stats.xtx
    cross = np.einsum("gdk,gdj->kj", vx, T)
    mtm[:k1, k1:] = cross
    mtm[k1:, :k1] = cross.T
    mtm[k1:, k1:] = np.einsum("gia,gij,gjb->ab", T, vv, T)
    mty = np.concatenate([np.asarray(stats.xty), np.einsum("gia,gi->a", T, vy)])
    return mtm, mty


def _additive_system(data: ModelData, priors: Priors, scale_trils, sigma, sizes: ModelSizes):
    """The dense system, kept multiplied by ``s2`` as in the nested structure."""
    s2 = sigma * sigma
    mean_w, var_w = _population_prior(data, priors, sizes.n_coef)
    k1 = sizes.n_coef + 1
    # prior precision of the coordinates: one block Sigma_k^-1 per (modifier, dim)
    blocks, logdet = [], jnp.sum(jnp.log(var_w))
    for (_, dims), scale_tril in zip(_varying(sizes), scale_trils, strict=True):
        precision, logdet_cov = _cov_precision(scale_tril)
        blocks.append(jnp.kron(jnp.eye(dims), precision))
        logdet = logdet + dims * logdet_cov
    prior_precision = jax.scipy.linalg.block_diag(jnp.diag(1.0 / var_w), *blocks)
    prior_mean = jnp.concatenate([mean_w, jnp.zeros(data.levels.mty.shape[0] - k1)])
    prec = data.levels.mtm + s2 * prior_precision
    rhs = data.levels.mty + s2 * (prior_precision @ prior_mean)
    return {
        "s2": s2,
        "matrix": prec,
        "chol": jnp.linalg.cholesky(prec),
        "rhs": rhs,
        "prior_quad": prior_mean @ prior_precision @ prior_mean,
        "log_prior_cov": logdet,
    }


def _additive_loglik(data: ModelData, system: dict) -> jnp.ndarray:
    s2 = system["s2"]
    log_det, quadratic = log_det_and_quadratic(system["matrix"], system["rhs"])
    log_prec = log_det - system["rhs"].shape[0] * jnp.log(s2)
    return (
        -0.5 * data.likelihood.n_rows * jnp.log(2.0 * jnp.pi * s2)
        - 0.5 * (data.likelihood.yty - quadratic) / s2
        - 0.5 * system["prior_quad"]
        - 0.5 * system["log_prior_cov"]
        - 0.5 * log_prec
    )


def _varying(sizes: ModelSizes):
    return [(k, dims) for k, (_, dims) in enumerate(sizes.level_dims) if dims]


def _additive_conditional(noise, data: ModelData, system: dict, sizes: ModelSizes) -> dict:
    chol, rhs = system["chol"], system["rhs"]
    mean = jax.scipy.linalg.cho_solve((chol, True), rhs)
    scaled = jnp.sqrt(system["s2"]) * noise
    beta = mean + jax.scipy.linalg.solve_triangular(chol.T, scaled, lower=False)
    k1 = sizes.n_coef + 1
    draws = {"w": beta[:k1]}
    width = sizes.varying_width
    total = jnp.zeros((sizes.n_groups, 1 + sizes.n_effects))
    start = k1
    for k, (_, dims) in enumerate(sizes.level_dims):
        if not dims:
            continue
        coords = beta[start : start + width * dims].reshape(dims, width)
        start += width * dims
        offsets = with_fixed_slopes(data.levels.bases[k] @ coords, sizes.n_effects)
        draws[f"u_m{k}"] = offsets
        total = total + offsets[data.levels.codes[:, k]]
    draws["u"] = total
    return draws


# ------------------------------------------------------------------ model and completion
def _marginal_scales(name: str, priors: Priors, dims: int, signed=None) -> jnp.ndarray:
    """``group_scales`` of the joint model: a factor ``F`` with ``F F' = Sigma``, the
    covariance of the (intercept, effects) offsets, and the sites ``sd_<name>`` and
    ``L_<name>`` (the correlation's Cholesky factor) recorded as the joint model's.

    **Each scale is sampled in one of two coordinates**, chosen per term from the data
    (``signed``, a boolean per term, or None: every term on the log scale; see
    :func:`~sklearn_hier._modeling.geometry.scale_start`). Either way the sampled
    coordinate ``u`` of the site ``scale_<name>`` maps to ``s`` with ``s`` standard normal
    in law, and the term's sd is ``|s| * priors.sd``: exactly the half-normal prior.

    - *Log scale*, ``s = exp(u)``: the usual coordinate of a positive parameter, right for
      an sd the data place away from zero (a long right tail becomes a short one).
    - *Signed*, ``s = u``: right for an sd whose posterior reaches down to zero (little
      heterogeneity, the common case), where the log scale has an exponential left tail
      that NUTS needs long trajectories to cross. The marginal likelihood depends on the
      scales only through ``Sigma = diag(s) R diag(s)``, a polynomial in ``s``, so the
      density is smooth through ``s = 0``, and the sign of ``s`` only flips the signs of
      that term's correlations: it is absorbed into the recorded factor (``L -> S L S``,
      ``S`` the signs), whose law, LKJ, does not change under it. Its posterior is
      symmetric in ``s``, so for an sd far from zero it has two modes: warm-up's variance
      estimate then spans both and the step size shrinks, which is why such terms are
      sampled on the log scale instead.

    **The correlation's factor is built from its canonical partial correlations**, entry
    by entry. Its below-diagonal entries follow from the partial correlations ``c`` (each
    in (-1, 1)): ``L[i, j] = c_ij sqrt(1 - sum_{k<j} L[i, k]^2)`` and
    ``L[i, i] = sqrt(1 - sum_{k<i} L[i, k]^2)``. The LKJ(eta) density of the factor is
    proportional to ``prod_i L[i, i]^(dims - i - 1 + 2 (eta - 1))`` (Stan's
    ``lkj_corr_cholesky``, over the below-diagonal entries), and the map from ``c`` has
    Jacobian ``prod_{i>j} sqrt(1 - sum_{k<j} L[i, k]^2)``. For the few terms here this is
    far cheaper to evaluate and differentiate than the general transform, and for one
    effect it is the LKJ density ``(1 - rho^2)^(eta - 1)`` on the correlation itself.
    """
    u = numpyro.sample(f"scale_{name}", dist.Normal(0.0, 1.0).expand([dims]).to_event(1))
    signed = jnp.zeros(dims, dtype=bool) if signed is None else jnp.asarray(signed)
    log_scale = jnp.where(signed, 0.0, u)  # zero where unused: exp stays finite
    s = jnp.where(signed, u, jnp.exp(log_scale))
    # the site's law is N(0, 1) in u; s must be N(0, 1) (folded: half-normal on s > 0),
    # so add log N(s) + log|ds/du| - log N(u), which is zero for the signed terms
    numpyro.factor(f"scale_density_{name}", jnp.sum(0.5 * (u * u - s * s) + log_scale))
    sd = numpyro.deterministic(f"sd_{name}", priors.sd * jnp.abs(s))
    pairs = [(i, j) for i in range(1, dims) for j in range(i)]
    if not pairs:  # one varying term: no correlation
        chol = numpyro.deterministic(f"L_{name}", jnp.ones((1, 1)))
        return sd[:, None] * chol
    partial = numpyro.sample(
        f"corr_{name}", dist.Uniform(-1.0, 1.0).expand([len(pairs)]).to_event(1)
    )
    rows, log_density = [], 0.0
    for i in range(dims):
        row, used = [], 0.0
        for j in range(i):
            remaining = 1.0 - used
            value = partial[pairs.index((i, j))] * jnp.sqrt(remaining)
            log_density = log_density + 0.5 * jnp.log(remaining)  # the Jacobian
            used = used + value * value
            row.append(value)
        diagonal = jnp.sqrt(1.0 - used) if i else jnp.ones(())
        log_density = log_density + (dims - i - 1 + 2.0 * (priors.lkj - 1.0)) * jnp.log(diagonal)
        rows.append(jnp.stack(row + [diagonal] + [jnp.zeros(())] * (dims - i - 1)))
    numpyro.factor(f"lkj_{name}", log_density)
    sign = jnp.where(s < 0.0, -1.0, 1.0)
    chol = numpyro.deterministic(f"L_{name}", jnp.stack(rows) * sign[:, None] * sign[None, :])
    return sd[:, None] * chol


def has_noise_scale(sizes: ModelSizes) -> bool:
    """Whether sigma is a parameter: the Gaussian family's. Another family's statistics are
    its likelihood's quadratic expansion, a Gaussian with known noise (sigma = 1)."""
    return family_of(sizes.family).sufficient_statistics


def _variance_sites(sizes: ModelSizes) -> list[str]:
    """Names of the varying (intercept, effect) pairs: one per group term."""
    if sizes.structure == "nested":
        return ["group"]
    return [f"m{k}" for k, _ in _varying(sizes)]


def _variance_parameters(data: ModelData, priors: Priors, sizes: ModelSizes):
    """Sample sites of the variance parameters; returns the offsets' scale factors and sigma."""
    dims = sizes.varying_width
    trils = [
        _marginal_scales(name, priors, dims, data.signed_scales if name == "group" else None)
        for name in _variance_sites(sizes)
    ]
    if not has_noise_scale(sizes):
        return trils, 1.0
    sigma = numpyro.sample("sigma", noise_prior(priors))
    return trils, sigma


def _system(data: ModelData, priors: Priors, sizes: ModelSizes, trils, sigma, *, factored=True):
    """The marginal model's system; ``factored``: with the factors the conditional draws
    need (the likelihood alone needs none, and is cheaper to differentiate without)."""
    if sizes.structure == "nested":
        scale_tril = _full_width(trils[0], sizes)
        return _nested_system(data, priors, scale_tril, sigma, factored=factored)
    return _additive_system(data, priors, trils, sigma, sizes)


def _full_width(scale_tril, sizes: ModelSizes):
    """The covariance factor over all of ``[1, t]``: zero rows for effects whose slopes do
    not vary. The nested system never inverts the covariance (it works with
    ``L' B_g L + s2 I``), so a zero scale is its exact limit, not a singularity."""
    full = 1 + sizes.n_effects
    return jnp.zeros((full, full)).at[: scale_tril.shape[0], : scale_tril.shape[1]].set(scale_tril)


def _loglik(data: ModelData, system: dict, sizes: ModelSizes) -> jnp.ndarray:
    return (_nested_loglik if sizes.structure == "nested" else _additive_loglik)(data, system)


def _phi_system(data: ModelData, priors: Priors, sizes: ModelSizes, phi: dict, *, factored=True):
    """The system at one draw ``phi`` of the constrained variance parameters."""
    priors = in_units(priors, data.prior_units)
    trils = [phi[f"sd_{name}"][:, None] * phi[f"L_{name}"] for name in _variance_sites(sizes)]
    sigma = phi["sigma"] if has_noise_scale(sizes) else 1.0
    return _system(data, priors, sizes, trils, sigma, factored=factored)


@functools.cache
def _traced_once(sizes: ModelSizes):
    """log p(y | phi) as its own jitted function of the variance parameters.

    A sampler's program holds the model several times (the initial trace, the start's
    gradient, the loop's gradient, the constrained draws): called through one jitted
    function, its thousands of per-group operations are traced (and differentiated)
    once per process instead of once per use. XLA inlines the call, so the compiled
    program is the same; what it saves is the time to trace, paid by every first fit,
    on a warm compilation cache too."""
    return jax.jit(
        lambda data, priors, trils, sigma: _loglik(
            data, _system(data, priors, sizes, trils, sigma, factored=False), sizes
        )
    )


def marginal_model(data: ModelData, priors: Priors, sizes: ModelSizes) -> None:
    """p(phi) p(y | phi): the variance parameters with the linear ones integrated out."""
    priors = in_units(priors, data.prior_units)  # per-parameter scales (a dose's units)
    trils, sigma = _variance_parameters(data, priors, sizes)
    loglik = _traced_once(sizes)(data, priors, trils, sigma)
    numpyro.factor("marginal_loglik", priors.temper * loglik)


def completion_noise_size(data: ModelData, sizes: ModelSizes) -> int:
    """How many standard normals one conditional draw takes (:func:`complete_from_noise`):
    one per coordinate of the dense system's unknowns, and in the nested structure one per
    group term. Read off the data's shapes, without tracing the system."""
    if sizes.structure == "nested":
        # the unknowns beta = (a, b): every column of the groups' [v, c] sums but the first
        return int(np.shape(data.likelihood.vx)[-1] + np.size(data.likelihood.vy))
    return int(np.shape(data.levels.mty)[0])


def completion_draw_bytes(data: ModelData, sizes: ModelSizes) -> int:
    """About how much memory one conditional draw holds while it is drawn: its system (the
    dense matrix and its factor) and, in the nested structure, the groups' per-draw
    arrays (their blocks, and their blocks times the columns of ``[C_g, r_g]``)."""
    unknowns = completion_noise_size(data, sizes)
    if sizes.structure != "nested":
        return 8 * (2 * unknowns**2 + sizes.n_groups * (1 + sizes.n_effects))
    n_groups, width = np.shape(data.likelihood.vy)
    dense = int(np.shape(data.likelihood.vx)[-1])
    columns = dense - int(np.shape(data.regression.to_w)[0]) + 1  # the controls' and r_g
    return 8 * (2 * dense**2 + n_groups * width * (2 * columns + 4 * width))


def complete_from_noise(noise, data: ModelData, priors: Priors, sizes: ModelSizes,
                        phi: dict) -> dict:  # fmt: skip
    """Exact draw of Intercept, b and the offsets given one draw ``phi`` of the variance
    parameters, from ``noise``: :func:`completion_noise_size` standard normals.

    ``phi`` holds the constrained values of the variance parameters
    (``sd_*``, ``L_*``, ``sigma``); returns the same sites as the joint model.
    """
    expected = completion_noise_size(data, sizes)
    if noise.shape != (expected,):
        raise ValueError(f"a conditional draw takes {expected} standard normals, not {noise.shape}")
    system = _phi_system(data, priors, sizes, phi)
    if sizes.structure == "nested":
        draws = _nested_conditional(noise, data, system)
    else:
        draws = _additive_conditional(noise, data, system, sizes)
    w = draws.pop("w")
    return {**draws, "Intercept": w[0] + data.likelihood.ybar, "b": w[1:]}


def complete_draw(key, data: ModelData, priors: Priors, sizes: ModelSizes, phi: dict) -> dict:
    """:func:`complete_from_noise` with its standard normals drawn from the JAX key ``key``."""
    noise = jax.random.normal(key, (completion_noise_size(data, sizes),))
    return complete_from_noise(noise, data, priors, sizes, phi)


# ------------------------------------------------------------------ conditional moments
def conditional_moments(data: ModelData, priors: Priors, sizes: ModelSizes, phi: dict) -> dict:
    """Exact normal moments of the group terms given the variance parameters ``phi`` (nested
    structure): what :func:`complete_draw` draws from, as means and covariances.

    Given phi, ``beta = (a, b)`` (the group-level regression's weights ``a`` and the
    controls' ``b``) is normal with mean ``Schur^-1 rhs`` and covariance
    ``s2 Schur^-1``, and each group's terms ``theta_g`` (its intercept and effects,
    ``Phi_g a + u_g``) are normal given beta with mean ``F_g (r_g - C_g b) + s2 (Omega F_g)'
    Phi_g a`` and covariance ``s2 F_g`` (see ``_nested_conditional``). Being linear in beta,
    ``theta_g = c_g + J_g beta + e_g``, so

        E theta_g = c_g + J_g E beta,   Cov(theta_g, theta_h) = J_g Cov(beta) J_h' + [g = h] s2 F_g.

    Returns ``theta_mean`` (G, D), ``theta_cov`` (G, D, D), ``jacobian`` (G, D, k),
    ``beta_mean`` (k,) and ``beta_cov`` (k, k), ``k = n_a + p`` with ``a`` first (row ``d``
    of ``a.reshape(D, 1 + q)``: term ``d``'s value at ``Z = 0`` and its slopes on ``Z``).
    The covariances do not depend on the outcome, the means are linear in it.
    """
    if sizes.structure != "nested":
        raise ValueError("conditional moments are derived for the nested structure only")
    system = _phi_system(data, priors, sizes, phi)
    chol, rhs, s2 = system["chol"], system["rhs"], system["s2"]
    zt = data.regression.zt
    n_groups, width = data.likelihood.vy.shape
    n_a = data.regression.to_w.shape[0]
    p = rhs.shape[0] - n_a
    beta_mean = jax.scipy.linalg.cho_solve((chol, True), rhs)
    beta_cov = s2 * jax.scipy.linalg.cho_solve((chol, True), jnp.eye(rhs.shape[0]))
    inverse, columns = system["inverse"], system["columns"]
    # d theta_g / d a = s2 W_g' (I_D kron zt_g'), d theta_g / d b = -F_g C_g
    kron = jnp.einsum("de,gi->gdei", jnp.eye(width), zt).reshape(n_groups, width, n_a)
    jac_a = s2 * jnp.einsum("ged,gek->gdk", system["weighted"], kron)
    jac_b = -jnp.einsum("gde,gek->gdk", inverse, columns[:, :, :p])
    jacobian = jnp.concatenate([jac_a, jac_b], axis=-1)
    offset = jnp.einsum("gde,ge->gd", inverse, columns[:, :, p])  # F_g r_g
    theta_mean = offset + jacobian @ beta_mean
    theta_cov = s2 * inverse + jnp.einsum("gdk,kl,gel->gde", jacobian, beta_cov, jacobian)
    return {
        "theta_mean": theta_mean, "theta_cov": theta_cov, "jacobian": jacobian,
        "beta_mean": beta_mean, "beta_cov": beta_cov,
    }  # fmt: skip


# ------------------------------------------------------------------ reweighting
def marginal_loglik(
    data: ModelData, priors: Priors, sizes: ModelSizes, phi: dict, *, factored: bool = True
) -> jnp.ndarray:
    """log p(y | phi) for one draw ``phi`` of the (constrained) variance parameters;
    ``factored=False``: by the sampler's path (blocks inverted from their cofactors)."""
    return _loglik(data, _phi_system(data, priors, sizes, phi, factored=factored), sizes)


def variance_log_prior(priors: Priors, sizes: ModelSizes, phi: dict) -> jnp.ndarray:
    """log p(phi): half-normal sds and sigma, LKJ correlations (normalised, so that
    densities under different prior scales can be compared). ``priors`` in the data's
    units (:func:`~sklearn_hier._base.spec.in_units`)."""
    total = noise_prior(priors).log_prob(phi["sigma"]) if has_noise_scale(sizes) else 0.0
    for name in _variance_sites(sizes):
        dims = phi[f"L_{name}"].shape[-1]
        sd_prior, correlation_prior = variance_priors(priors, dims)
        total = total + sd_prior.log_prob(phi[f"sd_{name}"])
        if dims > 1:  # one varying term has no correlation
            total = total + correlation_prior.log_prob(phi[f"L_{name}"])
    return total
