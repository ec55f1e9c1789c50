"""Save and load fitted models as plain data: ArviZ netCDF plus a JSON description.

Nothing in a saved file is executed on loading: the posterior is arrays in
netCDF (read by ArviZ/xarray), and everything else (parameters, the learned
design, group tables) is JSON stored as an attribute of the posterior. A format
number guards against files from incompatible versions, and SHA-256 digests of
the JSON and of the posterior arrays reveal files changed after saving.
"""

import datetime
import hashlib
import io
import json
import os

import numpy as np
import pandas as pd
import xarray as xr

from .._base.sampler_settings import (
    FLAT_PARAMS,
    sampler_from_flat,
    sampler_from_plain,
    sampler_to_plain,
)
from .._base.spec import ModelSpec
from .._data.design import ColumnCoding, Design
from .._data.laplace import ApproximationCheck
from .._data.row_patterns import RowPatterns
from .._data.treatment import TreatmentCoding, is_plain_label, label_from_plain, plain_label
from .posterior import FittedPosterior

#: Bumped whenever the saved layout changes incompatibly.
FORMAT_VERSION = 6
#: Versions this one reads (format 1: before the treatment coding was saved; format 2:
#: one binary treatment column; format 3: treatment column names as text, labels only of
#: JSON's types; format 4: the sampler's settings as flat parameters; format 5: without
#: the draws' log prior density, group ``log_prior``, which prior sensitivity reads).
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)
#: netCDF-4 through h5py: one engine for writing and reading, whatever else is installed.
NETCDF_ENGINE = "h5netcdf"
#: Values (labels in the parameters, e.g. a date as control_value) that JSON has no type for.
_LABELS = (pd.Timestamp, pd.Timedelta, pd.Period, np.datetime64, np.timedelta64,
           datetime.datetime, datetime.timedelta)  # fmt: skip
ATTRIBUTE = "sklearn_hier_model"


def _plain(value):
    """JSON-ready copy of parameters and levels (numpy scalars and arrays to Python)."""
    if isinstance(value, dict):
        return {"__dict__": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, _LABELS):  # dates, spans, periods: tagged, restored exactly
        return plain_label(value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__} ({value!r}) as plain data")


def _unplain(value):
    if is_plain_label(value):
        return label_from_plain(value)
    if isinstance(value, dict) and "__dict__" in value:
        return {_key(k): _unplain(v) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def _key(k):
    return tuple(k) if isinstance(k, list) else k


def _frame_to_plain(frame: pd.DataFrame) -> dict:
    columns = []
    for name in frame.columns:
        column = frame[name]
        entry = {
            "name": _plain(name),
            "dtype": str(column.dtype),
            "values": _plain(column.tolist()),
        }
        if isinstance(column.dtype, pd.CategoricalDtype):
            entry["categories"] = _plain(list(column.cat.categories))
            entry["ordered"] = bool(column.cat.ordered)
        columns.append(entry)
    return {"columns": columns}


def _frame_from_plain(plain: dict) -> pd.DataFrame:
    data = {}
    for entry in plain["columns"]:
        values = entry["values"]
        if entry["dtype"] == "category":
            data[entry["name"]] = pd.Categorical(
                values, categories=entry["categories"], ordered=entry["ordered"]
            )
        elif entry["dtype"] == "object":
            data[entry["name"]] = pd.Series(values, dtype=object)
        else:
            data[entry["name"]] = pd.Series(values).astype(entry["dtype"])
    return pd.DataFrame(data)


def _coding_to_plain(coding: ColumnCoding) -> dict:
    return {
        "name": _plain(coding.name),
        "kind": coding.kind,
        "categories": _plain(list(coding.categories)),
        "edges": None if coding.edges is None else _plain(coding.edges),
        "scores": None if coding.scores is None else _plain(coding.scores),
    }


def _coding_from_plain(plain: dict) -> ColumnCoding:
    return ColumnCoding(
        name=plain["name"],
        kind=plain["kind"],
        categories=list(plain["categories"]),
        edges=None if plain["edges"] is None else np.asarray(plain["edges"], float),
        scores=None if plain["scores"] is None else np.asarray(plain["scores"], float),
    )


def _design_to_plain(design: Design) -> dict:
    modifier_index = {id(c): k for k, c in enumerate(design.modifiers)}
    return {
        "modifiers": [_coding_to_plain(c) for c in design.modifiers],
        # a predictor that is a modifier shares its coding: keep that identity
        "predictors": [
            {"modifier": modifier_index[id(c)]} if id(c) in modifier_index else _coding_to_plain(c)
            for c in design.predictors
        ],
        "controls": [_coding_to_plain(c) for c in design.controls],
        "modifier_levels": [
            {"dtype": str(np.asarray(v).dtype), "values": _plain(list(v))}
            for v in design.modifier_levels
        ],
        "groups": _frame_to_plain(design.groups),
        "group_keys": _plain(design.group_keys),
        "Z": _plain(design.Z),
    }


def _design_from_plain(plain: dict) -> Design:
    modifiers = [_coding_from_plain(c) for c in plain["modifiers"]]
    predictors = [
        modifiers[c["modifier"]] if "modifier" in c else _coding_from_plain(c)
        for c in plain["predictors"]
    ]
    levels = [
        np.asarray(v["values"], dtype=object if v["dtype"] == "object" else v["dtype"])
        for v in plain["modifier_levels"]
    ]
    n_predictors = sum(len(c.feature_names) for c in predictors)
    groups = _frame_from_plain(plain["groups"])
    return Design(
        modifiers=modifiers,
        predictors=predictors,
        controls=[_coding_from_plain(c) for c in plain["controls"]],
        modifier_levels=levels,
        groups=groups,
        group_keys=np.asarray(plain["group_keys"], dtype=np.int64),
        # by the groups' count: with no group-level predictors Z has no columns to infer it
        Z=np.asarray(plain["Z"], dtype=float).reshape(len(groups), n_predictors),
    )


def _posterior_digest(idata) -> str:
    digest = hashlib.sha256()
    for name in sorted(idata.posterior.data_vars):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
    return digest.hexdigest()


def _patterns_to_plain(patterns: RowPatterns | None):
    if patterns is None:
        return None
    return {k: None if v is None else _plain(v) for k, v in vars(patterns).items()}


def _patterns_from_plain(plain) -> RowPatterns | None:
    if plain is None:
        return None
    return RowPatterns(**{
        k: None if v is None else np.asarray(v, dtype=np.int64 if k == "group" else float)
        for k, v in plain.items()
    })  # fmt: skip


def _saved_params(params: dict) -> dict:
    params = dict(params)
    params["sampler"] = sampler_to_plain(params["sampler"])
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None  # a RandomState object is not data; the seed is kept
    return params


def save_model(posterior: FittedPosterior, path) -> None:
    """Write a fitted posterior (and the parameters it was fitted with) to ``path``."""
    from .._base.version import __version__

    fitted = {
        "n_features_in_": posterior.n_features_in,
        "feature_names_in_": _plain(posterior.feature_names_in),
        "treatment": posterior.treatment.to_plain(),
        "seed_": posterior.seed,
        "fit_seconds_": posterior.fit_seconds,
        "categories_": _plain(posterior.categories),
        "groups_counts": {"n": _plain(posterior.n), "n_treated": _plain(posterior.n_treated)},
        "diagnostics_": posterior.diagnostics.to_json(orient="split"),
        "patterns": _patterns_to_plain(posterior.patterns),
        "approximation_": posterior.approximation,
        "approximation_check_": (
            None
            if posterior.approximation_check is None
            else dict(vars(posterior.approximation_check))
        ),
    }
    body = json.dumps(
        {
            "params": _plain(_saved_params(posterior.params)),
            "fitted": fitted,
            "design": _design_to_plain(posterior.design),
        }
    )
    idata = posterior.idata
    header = {
        "format": "sklearn_hier.HierarchicalHTE",
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
        "posterior_sha256": _posterior_digest(idata),
    }
    attrs = idata.posterior.attrs
    attrs[ATTRIBUTE] = json.dumps(header)
    attrs[ATTRIBUTE + "_body"] = body
    try:
        idata.to_netcdf(os.fspath(path), engine=NETCDF_ENGINE)
    finally:
        del attrs[ATTRIBUTE], attrs[ATTRIBUTE + "_body"]


def _read_checked(path: str):
    """The file's posterior and JSON body, after every check; clear errors for anything else."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        with xr.open_datatree(path, engine=NETCDF_ENGINE) as on_disk:
            idata = on_disk.load()  # read everything, so that no file stays open
        attrs = dict(idata.posterior.attrs)
    except Exception as error:  # h5py/xarray raise many types for a foreign file
        raise ValueError(
            f"{path!r} is not a sklearn_hier model file (it could not be read as netCDF: "
            f"{type(error).__name__})."
        ) from None
    if ATTRIBUTE not in attrs or ATTRIBUTE + "_body" not in attrs:
        raise ValueError(
            f"{path!r} is a netCDF file but not a saved sklearn_hier model "
            "(HierarchicalHTE.save writes one)."
        )
    try:
        header = json.loads(attrs.pop(ATTRIBUTE))
        body_text = attrs.pop(ATTRIBUTE + "_body")
    except (TypeError, ValueError):
        raise ValueError(f"{path!r} has a damaged sklearn_hier header.") from None
    if header.get("format") != "sklearn_hier.HierarchicalHTE":
        raise ValueError(f"{path!r} holds {header.get('format')!r}, not a HierarchicalHTE model.")
    if header.get("format_version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path!r} was saved by sklearn_hier {header.get('library_version')} in file format "
            f"{header.get('format_version')}; this version reads formats "
            f"{list(READABLE_VERSIONS)}. Load it with the version that saved it, or refit."
        )
    if hashlib.sha256(body_text.encode()).hexdigest() != header.get("body_sha256") or (
        _posterior_digest(idata) != header.get("posterior_sha256")
    ):
        raise ValueError(
            f"{path!r} was changed after it was saved (its checksums do not match); refusing "
            "to load it."
        )
    idata.posterior.attrs.clear()
    idata.posterior.attrs.update(attrs)
    return idata, json.loads(body_text), header["format_version"]


def _loaded_params(saved: dict, version: int) -> dict:
    """The saved parameters with their sampler object; formats 1-4 kept the sampler's
    settings as flat parameters."""
    if version >= 5:
        return {**saved, "sampler": sampler_from_plain(saved["sampler"])}
    flat = {name: saved.pop(name) for name in FLAT_PARAMS if name in saved}
    return {**saved, "sampler": sampler_from_flat(flat)}


def load_model(path, default_params: dict) -> FittedPosterior:
    """Read a model written by :func:`save_model` (format 1 files too)."""
    idata, body, version = _read_checked(os.fspath(path))
    params = {**default_params, **_loaded_params(_unplain(body["params"]), version)}
    fitted = body["fitted"]
    if version == 1:  # format 1 kept the treatment's name and treated_value only
        treatment = TreatmentCoding.binary(fitted["treatment_name_"])
        if params.get("treated_value") is not None:
            raise ValueError(
                f"{os.fspath(path)!r} (file format 1) used treated_value="
                f"{params['treated_value']!r} but did not record the control label; refit "
                "and save it again with this version."
            )
    else:
        treatment = TreatmentCoding.from_plain(fitted["treatment"])
    counts = fitted["groups_counts"]
    return FittedPosterior(
        params=params,
        spec=ModelSpec.from_params(params),
        design=_design_from_plain(body["design"]),
        treatment=treatment,
        idata=idata,
        n=np.asarray(counts["n"], dtype=np.int64),
        n_treated=np.asarray(counts["n_treated"], dtype=np.int64),
        seed=fitted["seed_"],
        n_features_in=fitted["n_features_in_"],
        feature_names_in=(
            None
            if fitted["feature_names_in_"] is None
            else np.asarray(fitted["feature_names_in_"], dtype=object)
        ),
        categories=fitted["categories_"],
        patterns=_patterns_from_plain(fitted["patterns"]),
        diagnostics=pd.read_json(io.StringIO(fitted["diagnostics_"]), orient="split"),
        fit_seconds=fitted["fit_seconds_"],
        approximation=fitted.get("approximation_", "none"),
        approximation_check=(
            None
            if fitted.get("approximation_check_") is None
            else ApproximationCheck(**fitted["approximation_check_"])
        ),
    )
