"""Per-series forecasts with prediction intervals, each series choosing its own models
by validation on held-out tails of its history."""

from triops.ops.forecasting.engine import Forecast, Settings, forecast
from triops.ops.forecasting.seasonality import candidates_for_step, detect_periods

__all__ = ["Forecast", "Settings", "candidates_for_step", "detect_periods", "forecast"]
