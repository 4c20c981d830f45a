"""MLOps: experiment tracking and the model registry.

The public face of the pillar; other pillars, the API and the CLI import from here.
"""

from triops.ml._filters import parse_filter, parse_order_by

__all__ = ["parse_filter", "parse_order_by"]
