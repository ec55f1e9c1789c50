"""NUTS with a compiled-sampler cache.

One jitted program runs warm-up and sampling for a chain and returns its
constrained draws. It is cached per model structure and sampler settings; data
and prior scales are traced arguments, so a refit on data of the same shape
(cross-validation folds, grid points, bootstrap) or with other prior scales
runs without recompiling.

Chains run either in threads (``"parallel"``, the default: on CPUs the NUTS
loop is latency bound, so separate chains on separate cores beat one batched
program) or batched with ``vmap`` in one program (``"vectorized"``, best on
accelerators). Everything runs in float64 inside :func:`jax.enable_x64`,
without changing the user's global JAX configuration.
"""

import dataclasses
import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy

from .._base.compilation_cache import ensure_persistent_cache
from .._base.executable_store import StoredProgram, stored_program
from .._base.spec import ModelSpec, Priors
from .._modeling.coefficient_padding import with_padded_coefficients
from .._modeling.hierarchical import Likelihood, ModelSizes, hte_model
from .._modeling.marginal_gaussian import (
    complete_from_noise,
    completion_draw_bytes,
    completion_noise_size,
    marginal_model,
)
from .._modeling.model_data import ModelData
from .._modeling.prior_density import log_prior_density
from . import streams
from .draws import SamplerResult, argument_dtype, as_arguments
from .nuts import nuts
from .variational import FULL_RANK_MAX_GROUPS, SVISettings, run_svi

#: From this many rows on, warm-up's mass-matrix estimates are used as they are.
#: Stan's regularisation (kept below it) adds 1e-3 * 5 / (n + 5) to each
#: variance estimate from a window of n draws, which guards the first short
#: windows of small-data fits. With many rows, sigma and the control
#: coefficients have posterior variances far below that floor (sd 0.0002 at
#: 10 million rows), the floor sets their inverse mass 10-20 times too large
#: and the step size shrinks to match: twice the leapfrog steps per draw.
UNREGULARIZED_MASS_ROWS = 20_000

#: Most draws completed by one call of the completion's program after sampling the
#: marginal model, and the memory a call may hold (see :func:`completion_batch`).
COMPLETION_BATCH = 250
COMPLETION_BYTES = 256 * 2**20


@dataclass(frozen=True)
class SamplerSettings:
    """Everything about the sampler that changes the compiled program."""

    num_warmup: int
    num_samples: int
    max_tree_depth: int
    warmup_max_tree_depth: int
    dense_mass: bool
    regularize_mass_matrix: bool
    vectorized: bool
    progress: bool = False


class _Progress:
    """The progress bars of the runs now sampling, by number.

    A sampler compiled to show progress reports it to the host a few dozen times a run;
    the run's number is an argument, so every fit of that program (threads, joblib) keeps
    to its own bar. Without a bar the program has no call to the host: one it cannot
    have if it is to be kept on disk whole (see :mod:`.._base.executable_store`).
    """

    def __init__(self):
        self.bars = {}
        self.lock = threading.Lock()
        self.last = 0

    def open(self, total: int) -> int:
        from tqdm.auto import tqdm

        with self.lock:
            self.last = self.last % (2**31 - 2) + 1  # an int32, never 0
            self.bars[self.last] = tqdm(total=total, desc="NUTS (all chains)", unit="it")
            return self.last

    def advance(self, number, n) -> None:
        number = int(number)
        if number == 0:
            return
        with self.lock:
            bar = self.bars.get(number)
            if bar is not None:
                bar.update(int(n))

    def close(self, number: int) -> None:
        with self.lock:
            bar = self.bars.pop(number, None)
        if bar is not None:
            bar.close()


def person_watching() -> bool:
    """Whether a person sees this process's output: stderr is a terminal, or the
    code runs in a Jupyter (IPython) kernel. False in logs, pipes and CI."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stream
        pass
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_progress(setting) -> bool:
    """``progress_bar`` resolved: ``"auto"`` shows progress where a person watches."""
    return person_watching() if setting == "auto" else bool(setting)


_PROGRESS = _Progress()


def model_of(sizes: ModelSizes):
    """The NumPyro model NUTS samples: the joint one, or the variance parameters alone."""
    return marginal_model if sizes.likelihood == Likelihood.GAUSSIAN_MARGINAL else hte_model


def _unconstrained_init(seed, data, priors, sizes):
    """Stan-style initial values, uniform(-2, 2) on the unconstrained scale, except
    where the data supply a centre and spread (``init_loc_<site>``,
    ``init_spread_<site>``): then centre + spread * uniform(-2, 2).

    The uniforms of all sites are the first of the stream ``seed`` (:mod:`.streams`),
    cut site by site.

    Also returns each site's spread, broadcast to its shape: the scale on which
    warm-up first moves it (see :func:`_initial_inverse_mass`)."""
    trace = handlers.trace(handlers.seed(model_of(sizes), 0)).get_trace(data, priors, sizes)
    shapes = {
        name: jnp.shape(biject_to(site["fn"].support).inv(site["value"]))
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    lengths = [int(np.prod(shape, dtype=np.int64)) for shape in shapes.values()]
    uniforms = 4.0 * streams.uniforms(seed, 0, np.arange(sum(lengths))) - 2.0
    ends = np.cumsum(lengths)
    init, spreads = {}, {}
    for (name, shape), start, end in zip(shapes.items(), ends - lengths, ends, strict=True):
        jitter = jnp.reshape(uniforms[start:end], shape)
        centre, spread = data.start.of_site(name)
        init[name] = centre + spread * jitter
        spreads[name] = jnp.broadcast_to(jnp.asarray(spread, dtype=jitter.dtype), shape)
    return init, spreads


def _initial_inverse_mass(sizes: ModelSizes, spreads: dict, dense: bool):
    """The inverse mass matrix warm-up starts from, until its first window has adapted
    one (NumPyro's default, like Stan's, is the identity).

    For the marginal model it is the start's spreads, squared: the data give sigma's
    posterior scale (about ``1 / sqrt(2 n)`` on the log scale) and a bound on the
    group terms' scales, both far below 1. With the identity, the step size has to
    shrink to sigma's scale while the trajectories still cross the others' width, and
    the first hundred warm-up iterations took half of all warm-up's leapfrog steps.
    The joint model keeps the identity.
    """
    if sizes.likelihood != Likelihood.GAUSSIAN_MARGINAL:
        return None
    diagonal = ravel_pytree(spreads)[0] ** 2
    return jnp.diag(diagonal) if dense else diagonal


def chain_seeds(seed, chains) -> np.ndarray:
    """The random seeds of the chains numbered ``chains``: per chain, the seed of its
    initial values' stream and that of its NUTS run's (:mod:`.streams`; ``(chain, 2)``
    unsigned 64-bit words), from NumPy's seed sequence of the fit's seed and the chain's
    number."""
    return np.stack([
        streams.seed_sequence(seed, streams.CHAIN_SEEDS, chain).generate_state(2, np.uint64)
        for chain in np.atleast_1d(chains)
    ])  # fmt: skip


def completion_noise(seed, chain) -> np.random.Generator:
    """The generator of the standard normals that complete chain ``chain``'s draws, one
    row per draw in order, batch after batch: NumPy's, apart from every JAX stream of the
    chains.

    Drawn on the host rather than in the completion's program: JAX's generator is a
    program of its own rounds, and in the completion's it took a third of the compile."""
    return np.random.default_rng(streams.seed_sequence(seed, streams.COMPLETION_NOISE, chain))


@functools.lru_cache(maxsize=32)
def compiled_sampler(sizes: ModelSizes, settings: SamplerSettings):
    """A jitted ``run(seeds, data, priors, target_accept, progress) -> (draws, stats)``.

    ``seeds``: a chain's seeds from :func:`chain_seeds` (``(2,)``; with
    ``settings.vectorized``, ``(chain, 2)``, one row per chain).
    """
    model = functools.partial(model_of(sizes), sizes=sizes)

    total = settings.num_warmup + settings.num_samples
    every = max(1, total // 50)

    def one_chain(seeds, data, priors, target_accept, progress):
        seed_init, seed_run = seeds[0], seeds[1]
        args = (data, priors)
        init, spreads = _unconstrained_init(seed_init, data, priors, sizes)
        flat_init, unravel = ravel_pytree(init)
        # NUTS moves one flat vector: its state updates are then one operation each, not one
        # per sample site (each compiled operation costs about as much to launch as its
        # arithmetic on a few numbers, and a leapfrog step has dozens of them)
        init_kernel, sample_kernel = nuts(
            lambda z: potential_energy(model, args, {}, unravel(z)),
            num_warmup=settings.num_warmup,
            max_tree_depth=(settings.warmup_max_tree_depth, settings.max_tree_depth),
            dense_mass=settings.dense_mass,
            target_accept_prob=target_accept,
            regularize_mass_matrix=settings.regularize_mass_matrix,
        )
        state = init_kernel(
            flat_init, _initial_inverse_mass(sizes, spreads, settings.dense_mass), seed_run
        )

        def record(state):
            return {
                "z": state.z,
                "diverging": state.diverging,
                "n_steps": state.num_steps,
                "acceptance_rate": state.accept_prob,
                "energy": state.energy,
                "lp": -state.potential_energy,
                "step_size": state.adapt_state.step_size,
            }

        # One loop over warm-up and sampling keeps a single copy of the NUTS kernel
        # in the compiled program (about half the compile time of two loops). Its first
        # iteration (-1) only computes the start's gradient (see nuts). It and the
        # warm-up iterations write to slot 0, which the first kept draw overwrites.
        buffer = jax.tree.map(
            lambda x: jnp.zeros((settings.num_samples,) + jnp.shape(x), jnp.result_type(x)),
            record(state),
        )

        def body(i, carry):
            state, buffer = carry
            state = sample_kernel(state)
            if settings.progress:  # each call to the host costs a millisecond or more
                jax.lax.cond(
                    (i >= 0) & (i % every == every - 1),
                    lambda: jax.debug.callback(_PROGRESS.advance, progress, every, ordered=False),
                    lambda: None,
                )
            slot = jnp.maximum(i - settings.num_warmup, 0)
            buffer = jax.tree.map(
                lambda buf, x: jax.lax.dynamic_update_index_in_dim(buf, x, slot, 0),
                buffer,
                record(state),
            )
            return state, buffer

        _, buffer = jax.lax.fori_loop(-1, total, body, (state, buffer))
        z = buffer.pop("z")
        constrained = jax.vmap(
            lambda flat: constrain_fn(model, args, {}, unravel(flat), return_deterministic=True)
        )(z)
        return constrained, buffer

    if settings.vectorized:
        return jax.jit(jax.vmap(one_chain, in_axes=(0, None, None, None, None)))
    return jax.jit(one_chain)


@functools.lru_cache(maxsize=32)
def compiled_completion(sizes: ModelSizes):
    """A jitted ``complete(data, priors, phi, noise) -> (draws, log_prior)``: for each draw
    of the variance parameters (leading axis of ``phi``), one exact draw of the rest from
    its row of ``noise`` (standard normals), and the log prior density of the whole draw
    (computed here, one program fewer to load)."""

    def complete(data, priors, phi, noise):
        rest = jax.vmap(lambda z, one: complete_from_noise(z, data, priors, sizes, one))(noise, phi)
        lprior = log_prior_density({**phi, **rest}, priors, data.prior_units, sizes=sizes,
                                   coef_kept=data.coef_kept)  # fmt: skip
        return rest, lprior

    return jax.jit(complete)


def run_nuts(
    sizes: ModelSizes,
    settings: SamplerSettings,
    data: ModelData,
    priors: Priors,
    *,
    num_chains: int,
    target_accept: float,
    seed: int,
    progress: bool = False,
) -> SamplerResult:
    """Sample the posterior; reuses the compiled sampler for these sizes and settings.

    ``progress`` shows a bar, from a program of its own (the draws are the same).
    """
    settings = dataclasses.replace(settings, progress=bool(progress))
    marginal = sizes.likelihood == Likelihood.GAUSSIAN_MARGINAL
    kept = None
    if marginal:  # one program for nearby numbers of coefficients; the padding is dropped below
        sizes, data = with_padded_coefficients(sizes, data)
        kept = data.coef_kept.astype(bool)
    seed = np.int64(seed)
    chains = np.arange(num_chains, dtype=np.int32)
    seeds = chain_seeds(seed, chains)
    accept = np.float64(target_accept)
    with jax.enable_x64(True):
        data, priors = as_arguments(data), as_arguments(priors)
        sampler = compiled_sampler(sizes, settings)
        if not settings.progress:  # a bar's program calls back to the host: not exportable
            sampler = stored_program(
                sampler,
                (seeds if settings.vectorized else seeds[0], data, priors, accept,
                 np.int32(0)),  # the bar's number: its value, not its shape, changes per fit
                name="nuts", static=(sizes, settings),
            )  # fmt: skip
        if marginal:
            _prepare_completion(sizes, data, priors, sampler, settings.vectorized)
        if isinstance(sampler, StoredProgram):
            sampler.compile()  # here, not in whichever chain's thread calls it first
    number = 0
    if progress:
        # under vmap the host callback fires once for the whole batch of chains
        per_run = 1 if settings.vectorized else num_chains
        number = _PROGRESS.open(per_run * (settings.num_warmup + settings.num_samples))
    shown = np.int32(number)
    log_prior = None
    try:
        if settings.vectorized:
            with jax.enable_x64(True):
                draws, stats = jax.device_get(sampler(seeds, data, priors, accept, shown))
            if marginal:
                rest, log_prior = _completed(sizes, data, priors, draws, seed, chains)
                draws.update(rest)
        else:

            def chain(number):
                # enable_x64 is thread-local: each worker must set it, or it would
                # trace (and compile) a float32 program of its own.
                with jax.enable_x64(True):
                    draws, stats = jax.device_get(
                        sampler(seeds[number], data, priors, accept, shown)
                    )
                    if not marginal:
                        return draws, stats, None
                    # completed in this chain's thread while others still sample: the
                    # completion then costs the fit a share of its time, not all of it
                    one = jax.tree.map(lambda x: x[None], draws)  # (1 chain, draw, ...)
                    rest, lprior = _completed(sizes, data, priors, one, seed, [number])
                    draws.update({k: v[0] for k, v in rest.items()})
                    return draws, stats, lprior[0]

            workers = max(1, min(num_chains, os.cpu_count() or 1))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                per_chain = list(pool.map(chain, chains))
            draws, stats = jax.tree.map(lambda *xs: np.stack(xs), *[c[:2] for c in per_chain])
            if marginal:
                log_prior = np.stack([c[2] for c in per_chain])
    finally:
        _PROGRESS.close(number)
    draws = {k: np.asarray(v) for k, v in draws.items()}
    if kept is not None:  # in C order, as every other draw (a saved fit's b is read back so)
        draws["b"] = np.compress(kept, draws["b"], axis=-1)
    stats = {k: np.asarray(v) for k, v in stats.items()}
    stats["tree_depth"] = np.ceil(np.log2(stats["n_steps"] + 1)).astype(np.int64)
    stats["reached_max_treedepth"] = stats["tree_depth"] >= settings.max_tree_depth
    return SamplerResult(draws=draws, stats=stats, log_prior=log_prior,
                         num_warmup=settings.num_warmup)  # fmt: skip


def completion_batch(data: ModelData, sizes: ModelSizes) -> int:
    """Draws completed by one call of the completion's program: ``COMPLETION_BATCH``, or
    fewer where their arrays would hold more than ``COMPLETION_BYTES``. The program is
    compiled for this many draws whatever the run's length (one program serves every
    ``num_samples``; a short last batch is padded), and each call costs a dispatch, so
    the batch is as large as the memory allows."""
    return max(1, min(COMPLETION_BATCH, COMPLETION_BYTES // completion_draw_bytes(data, sizes)))


def _completion_program(sizes: ModelSizes, args: tuple):
    """The completion's program for arguments like ``args``: stored, or traced."""
    return stored_program(compiled_completion(sizes), args, name="completion", static=sizes)


def _completion_arguments(data: ModelData, priors: Priors, sizes: ModelSizes, phi: dict):
    """The completion's arguments for one batch ``phi`` of draws (leaves ``(batch, ...)``),
    with a placeholder for their noise: its shape, ``(batch, normals per draw)``."""
    batch = jax.tree.leaves(phi)[0].shape[0]
    noise = jax.ShapeDtypeStruct((batch, completion_noise_size(data, sizes)), np.float64)
    return data, priors, phi, noise


def _prepare_completion(sizes, data, priors, sampler, vectorized: bool):
    """Read or trace, and compile, the completion's program in a thread of its own, while
    this one compiles the sampler: a new process's first fit waits for the longer of the
    two compiles, not for both. Only where the sampler's results' shapes are known
    before it runs (a stored program)."""
    if not isinstance(sampler, StoredProgram):
        return
    constrained = sampler.out_shapes[0]  # one chain's (draw, ...); (chain, draw, ...) under vmap
    per_draw, batch = (2 if vectorized else 1), completion_batch(data, sizes)

    def as_phi(shape):  # one batch of draws, as _completed hands them over
        draws = (batch,) + shape.shape[per_draw:]
        return jax.ShapeDtypeStruct(draws, argument_dtype(shape.dtype))

    phi = jax.tree.map(as_phi, constrained)

    def work():
        try:
            with jax.enable_x64(True):
                program = _completion_program(
                    sizes, _completion_arguments(data, priors, sizes, phi)
                )
                if isinstance(program, StoredProgram):
                    program.compile()
        except Exception:  # noqa: BLE001 - the completion then compiles when first called
            return

    threading.Thread(target=work, name="sklearn_hier-completion", daemon=True).start()


def _completed(sizes: ModelSizes, data: ModelData, priors: Priors, draws: dict, seed: int,
               chains) -> tuple[dict, np.ndarray]:  # fmt: skip
    """Intercept, coefficients and offsets for every draw of the marginal model (``draws``
    ``(chain, draw, ...)``, those of the chains numbered ``chains``), and their ``(chain,
    draw)`` log prior density: :func:`completion_batch` draws per call of one program, the
    last batch padded (with copies of the last draw, whose results are dropped)."""
    n_draws = np.shape(next(v for k, v in draws.items() if k.startswith("sd_")))[1]
    size, batch = completion_noise_size(data, sizes), completion_batch(data, sizes)
    padded = -(-n_draws // batch) * batch
    per_chain = []
    with jax.enable_x64(True):
        complete = None
        for index, chain in enumerate(chains):
            phi = as_arguments({
                k: np.pad(np.asarray(v[index]), [(0, padded - n_draws)]
                          + [(0, 0)] * (np.ndim(v) - 2), mode="edge")
                for k, v in draws.items()
            })  # fmt: skip
            noise = np.zeros((padded, size))
            noise[:n_draws] = completion_noise(seed, chain).standard_normal((n_draws, size))
            results = []
            for start in range(0, padded, batch):
                args = (data, priors, {k: v[start : start + batch] for k, v in phi.items()},
                        noise[start : start + batch])  # fmt: skip
                if complete is None:
                    complete = _completion_program(sizes, args)
                results.append(complete(*args))  # dispatched: the next batch is set up meanwhile
            results = jax.device_get(results)
            per_chain.append(jax.tree.map(lambda *xs: np.concatenate(xs)[:n_draws], *results))
    rest, log_prior = jax.tree.map(lambda *xs: np.stack(xs), *per_chain)
    return rest, np.asarray(log_prior, dtype=np.float64)


def sampler_settings(spec: ModelSpec, *, n_rows: int, marginal: bool) -> SamplerSettings:
    """The NUTS settings a specification asks for (with its defaults resolved);
    ``marginal``: whether NUTS samples the marginal model."""
    return SamplerSettings(
        num_warmup=spec.resolved_num_warmup(marginal=marginal),
        num_samples=spec.num_samples,
        max_tree_depth=spec.max_tree_depth,
        warmup_max_tree_depth=spec.resolved_warmup_tree_depth(),
        dense_mass=bool(spec.dense_mass),
        regularize_mass_matrix=n_rows < UNREGULARIZED_MASS_ROWS,
        vectorized=spec.chain_method == "vectorized",
    )


def run_inference(
    spec: ModelSpec, sizes: ModelSizes, data: ModelData, *, n_rows: int, seed: int,
    priors: Priors | None = None,
) -> SamplerResult:  # fmt: skip
    """Draw from the posterior the specification describes: NUTS (the joint model, or
    the marginal model completed by exact conditional draws) or SVI.

    ``priors`` replaces the specification's (cross-validation samples a proposal).
    """
    ensure_persistent_cache()
    priors = spec.priors if priors is None else priors
    if spec.inference == "svi":
        guide = spec.svi_guide
        if guide == "auto":
            guide = "mvn" if sizes.n_groups <= FULL_RANK_MAX_GROUPS else "lowrank"
        settings = SVISettings(
            num_steps=spec.svi_steps,
            guide=guide,
            rank=None,
            learning_rate=spec.svi_learning_rate,
            num_draws=spec.n_draws,
        )
        return run_svi(sizes, settings, data, priors, num_chains=spec.num_chains, seed=seed)
    marginal = sizes.likelihood == Likelihood.GAUSSIAN_MARGINAL
    return run_nuts(
        sizes,
        sampler_settings(spec, n_rows=n_rows, marginal=marginal),
        data,
        priors,
        num_chains=spec.num_chains,
        target_accept=spec.resolved_target_accept(marginal=marginal),
        seed=seed,
        progress=show_progress(spec.progress_bar),
    )
