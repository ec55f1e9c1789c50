"""Shared machinery of the held-out checks and metrics: cross-fitted nuisance models, cached
results and metadata routing.
"""
