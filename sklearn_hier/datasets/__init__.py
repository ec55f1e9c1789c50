from ._tomz_weeks import load_tomz_weeks

__all__ = ["load_tomz_weeks"]
