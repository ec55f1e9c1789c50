"""The model stage: from reduced data to NumPyro models.

``inputs`` decides the likelihood kind, the geometry and the start values once and hands on
``PreparedData``; ``hierarchical`` and ``marginal_gaussian`` are pure NumPyro functions of
``model_data.ModelData`` and the priors; ``coefficient_padding`` widens the Gaussian
marginal model's inputs so that nearby models run one compiled program.
"""
