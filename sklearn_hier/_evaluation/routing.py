"""Per-row metadata (the treatment, known true effects) that scoring and prediction need.

scikit-learn hands such arguments to ``score``, ``predict`` and scorers only through
metadata routing. Without it, ``GridSearchCV`` and ``cross_validate`` call them without
the argument, turn the error into a NaN score and a warning, and still pick a "best"
candidate. That warning carries this module's message, so every method and scorer that
needs a routed argument raises the same one: what is missing and how to turn routing on.
"""

#: What every candidate of a search scores without routing.
_WITHOUT_ROUTING = (
    "scikit-learn passes it to scoring and prediction only with metadata routing, so "
    "without it GridSearchCV and cross_validate score every candidate as NaN. Enable "
    "metadata routing with sklearn.set_config(enable_metadata_routing=True), request it "
    "({request}), and pass {name}=... to the search's fit (or cross_validate(params=...))."
)


def missing_metadata(name: str, *, who: str, request: str) -> ValueError:
    """The error for ``who`` (a method or scorer) called without ``name``.

    ``request`` says which requests routing needs, e.g.
    ``"est.set_fit_request(treatment=True).set_score_request(treatment=True)"``.
    """
    return ValueError(
        f"{who} needs {name} for the rows it scores or predicts, and got none. Called "
        f"directly, pass it ({name}=...). " + _WITHOUT_ROUTING.format(name=name, request=request)
    )


def require_metadata(*, who: str, request: str, **given) -> None:
    """Raise :func:`missing_metadata` for the first of ``given`` that is None."""
    for name, value in given.items():
        if value is None:
            raise missing_metadata(name, who=who, request=request)


#: The requests an effect model needs for its own ``score`` and ``predict``.
ESTIMATOR_REQUEST = (
    "est.set_fit_request(treatment=True).set_score_request(treatment=True), and "
    "set_predict_request(treatment=True) for scorers that call predict"
)
