"""Data sets: the Tomz & Weeks (2021) experiment and simulated experiments with known truth."""

from ._simulated import SimulatedHTE, make_grouped_hte
from ._tomz_weeks import load_tomz_weeks

__all__ = ["SimulatedHTE", "load_tomz_weeks", "make_grouped_hte"]
