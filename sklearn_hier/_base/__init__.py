"""What every stage shares: the outcome families, the frozen model specification, input checks,
the effect vocabulary, sampling checks and the version. Imports nothing else from the package.
"""
