"""The data stage: rows in, reduced statistics out.

Groups and codings are learned from the rows (``design``, ``treatment``), the rows are
reduced where they live, in memory or in Dask partitions (``reduction``, ``partitioned``), to
Gaussian statistics, family cells or the Laplace approximation's statistics, and the stage
ends at ``reduced.ReducedData`` and ``reduced.LearnedInput``. It knows no model.
"""
