"""The data stage's hand-off: what fit learned from the rows, and what they reduced to.

The reduction (rows in memory, or partition by partition) ends here; nothing in it
names the model. The model-input stage (:mod:`.._modeling.inputs`) decides from these
which likelihood the sampler evaluates, its geometry and its start values.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._base.families import FamilyCells
from .design import Design
from .laplace import LaplaceExpansion
from .row_patterns import RowPatterns
from .sufficient_statistics import (
    ControlsFit,
    GaussianRows,
    GaussianStatistics,
    GroupStart,
    RowDesign,
)
from .treatment import TreatmentCoding


@dataclass
class LearnedInput:
    """What fit learned from the input besides the reduction: the design (groups,
    encodings), the treatment's coding, the ordinal categories, the columns seen, and
    the coded rows when they are held in memory."""

    design: Design
    treatment: TreatmentCoding
    categories: list | None
    n_features_in: int
    feature_names_in: np.ndarray | None
    rows: RowDesign | None = None  # None when the rows stayed in their partitions


class ReducedData(NamedTuple):
    """What the rows were reduced to, wherever they live: the likelihood's data and the
    counts and summaries the model and the reports need. The hand-off from the reduction
    (in memory, or partition by partition) to the model's inputs."""

    likelihood: GaussianStatistics | GaussianRows | FamilyCells
    n_rows: int
    n: np.ndarray  # (G,) rows per group
    n_treated: np.ndarray  # (G, E) rows per group in each effect's arm (non-zero dose)
    xbar: np.ndarray  # the design's centring
    outcome_sd: float
    controls_fit: ControlsFit | None = None  # Gaussian: the pooled least-squares fit
    group_start: GroupStart | None = None  # Gaussian: the groups' own estimates
    patterns: RowPatterns | None = None  # off the Gaussian family: for response scales
    expansion: LaplaceExpansion | None = None  # the approximate likelihood's, if any
