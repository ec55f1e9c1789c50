"""HierarchicalHTE's default priors in bambi's terms, for the bambi benchmark scripts."""

import bambi as bmb


def default_priors(treatment: str) -> dict:
    """Intercept N(0, 1), coefficients N(0, 0.5), HalfNormal(1) group sds and sigma."""
    group_sd = bmb.Prior("HalfNormal", sigma=1)
    return {
        "Intercept": bmb.Prior("Normal", mu=0, sigma=1),
        "common": bmb.Prior("Normal", mu=0, sigma=0.5),
        "1|group": bmb.Prior("Normal", mu=0, sigma=group_sd),
        f"{treatment}|group": bmb.Prior("Normal", mu=0, sigma=group_sd),
        "sigma": bmb.Prior("HalfNormal", sigma=1),
    }
