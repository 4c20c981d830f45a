"""Run statsforecast models on a long-format CSV (run inside bench/.venvs/statsforecast).

Usage: python statsforecast_m4.py TRAIN.csv HORIZON OUT.csv MODEL[,MODEL…]
Writes series,t,<model>… and prints one ``model seconds`` line per model.
"""

import sys
import time

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS, AutoTheta, SeasonalNaive

MODELS = {
    "AutoETS": lambda: AutoETS(season_length=24),
    "AutoTheta": lambda: AutoTheta(season_length=24),
    "MSTL": lambda: MSTL(season_length=[24, 168]),
    "SeasonalNaive": lambda: SeasonalNaive(season_length=24),
}


def main() -> None:
    train, horizon, out, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
    df = pd.read_csv(train).rename(columns={"series": "unique_id", "t": "ds", "value": "y"})
    result = None
    for name in names:
        started = time.perf_counter()
        fc = StatsForecast(models=[MODELS[name]()], freq=1, n_jobs=1).forecast(df=df, h=horizon)
        print(f"{name} {time.perf_counter() - started:.2f}", flush=True)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        fc = fc[["unique_id", "ds", name]]
        result = fc if result is None else result.merge(fc, on=["unique_id", "ds"])
    assert result is not None
    result.rename(columns={"unique_id": "series", "ds": "t"}).to_csv(out, index=False)


if __name__ == "__main__":
    main()
