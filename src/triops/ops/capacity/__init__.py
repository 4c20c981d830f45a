"""Capacity and predictive-maintenance signals: series projected to a threshold."""

from triops.ops.capacity.evaluator import (
    CAPACITY,
    DEFAULT_INTERVAL_MS,
    Assessment,
    assess,
    evaluate,
    evaluate_samples,
    forecast_of,
    rules_of,
)
from triops.ops.capacity.projection import Projection, first_crossing, project
from triops.ops.capacity.rules import CapacityRule, parse_duration, parse_key
from triops.store.repos import capacity as capacity_store

__all__ = ["CAPACITY", "DEFAULT_INTERVAL_MS", "Assessment", "CapacityRule", "Projection",
           "assess", "capacity_store", "evaluate", "evaluate_samples", "first_crossing", "forecast_of",
           "parse_duration", "parse_key", "project", "rules_of"]
