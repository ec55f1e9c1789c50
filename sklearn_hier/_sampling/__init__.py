"""The inference stage: NUTS or SVI over a prepared model, compiled once per shape."""
