"""The results stage: the fitted posterior, its tables and comparisons, ArviZ data and saved
files.
"""
