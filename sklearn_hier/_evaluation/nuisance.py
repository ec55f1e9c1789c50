"""Default nuisance models of the outcome and the treatment, shared by scorers and checks."""

from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

#: Estimated propensities are kept inside this range, so no row gets an extreme weight.
PROPENSITY_CLIP = (0.01, 0.99)


def one_hot_then(model) -> Pipeline:
    """``model`` behind a one-hot encoding of the non-numeric columns (numbers pass as is)."""
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         make_column_selector(dtype_exclude="number")),
        remainder="passthrough",
    )  # fmt: skip
    return make_pipeline(encode, model)


def default_nuisance(kind: str) -> Pipeline:
    """Gradient boosting for ``"outcome"`` and ``"propensity"``, a logistic regression for
    ``"randomised_propensity"`` (well calibrated when the treatment was randomised)."""
    if kind == "outcome":
        return one_hot_then(HistGradientBoostingRegressor(max_iter=100, random_state=0))
    if kind == "propensity":
        return one_hot_then(HistGradientBoostingClassifier(max_iter=100, random_state=0))
    if kind == "randomised_propensity":
        return one_hot_then(LogisticRegression(max_iter=1000))
    raise ValueError(f"unknown nuisance model {kind!r}")
