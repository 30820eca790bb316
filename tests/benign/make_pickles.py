#!/usr/bin/env python3
"""Writes real benign pickles for tests/benign_sweep.rs: every scikit-learn estimator that fits
with default parameters on a small dataset, and pandas/numpy/stdlib data objects, each pickled
with protocols 2, 4 and 5 and with joblib (plain and zlib-compressed). It only fits and dumps;
it never loads a pickle.

Usage: make_pickles.py OUTDIR   (prints the number of files written)
"""
import collections
import datetime
import decimal
import os
import pickle
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.base import is_classifier, is_regressor
from sklearn.utils import all_estimators

warnings.filterwarnings("ignore")


def dump_all(out, stem, obj, protocols=(2, 4, 5)):
    n = 0
    for proto in protocols:
        with open(os.path.join(out, f"{stem}.p{proto}.pkl"), "wb") as f:
            pickle.dump(obj, f, protocol=proto)
        n += 1
    joblib.dump(obj, os.path.join(out, f"{stem}.joblib"))
    joblib.dump(obj, os.path.join(out, f"{stem}.z.joblib"), compress=3)
    return n + 2


def estimators(out):
    X, y = datasets.load_iris(return_X_y=True)
    Xr, yr = datasets.load_diabetes(return_X_y=True)
    n = 0
    for name, cls in all_estimators():
        try:
            est = cls()
            if is_regressor(est):
                est.fit(Xr[:200], yr[:200])
            elif is_classifier(est):
                est.fit(X, y)
            else:
                try:
                    est.fit(X, y)
                except Exception:
                    est.fit(X)
        except Exception:
            continue  # needs parameters (meta-estimators) or other data
        n += dump_all(out, f"sklearn_{name}", est, protocols=(4,))
    return n


def data_objects(out):
    X, y = datasets.load_iris(return_X_y=True)
    df = pd.DataFrame(X, columns=list("abcd"))
    df["cat"] = pd.Categorical(["x", "y", "z"] * 50)
    df["t"] = pd.date_range("2020-01-01", periods=150, freq="h", tz="UTC")
    df["s"] = [f"s{i}" for i in range(150)]
    df["i"] = pd.array(list(range(149)) + [None], dtype="Int64")
    objs = {
        "dataframe": df,
        "series": df["a"],
        "multiindex": pd.MultiIndex.from_product([[1, 2], ["a", "b"]]),
        "periods": pd.period_range("2020-01", periods=5, freq="M"),
        "intervals": pd.interval_range(0, 5),
        "sparse": pd.arrays.SparseArray([0, 0, 1.0]),
        "strings": pd.array(["a", None], dtype="string"),
        "timedelta": pd.timedelta_range("1 day", periods=3),
        "scalars": [pd.Timestamp("2021-01-01", tz="UTC"), pd.Timedelta("1h"), pd.NaT, pd.NA],
        "stdlib": {
            "dt": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
            "td": datetime.timedelta(3),
            "d": datetime.date(2020, 1, 2),
            "dec": decimal.Decimal("1.5"),
            "od": collections.OrderedDict(a=1),
            "dd": collections.defaultdict(list, a=[1]),
            "cnt": collections.Counter("abc"),
            "sets": ({1, 2}, frozenset([1])),
            "cplx": 1 + 2j,
            "bytes": (b"x", bytearray(b"y")),
            "rng": range(3),
            "sl": slice(1, 2),
        },
        "numpy": {
            "gen": np.random.default_rng(0),
            "rs": np.random.RandomState(0),
            "dt64": np.datetime64("2020-01-01"),
            "masked": np.ma.masked_array([1, 2], mask=[0, 1]),
            "rec": np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
            "obj": np.array([1, "a", None], dtype=object),
            "str": np.array(["ab", "c"]),
            "f16": np.arange(4, dtype=np.float16),
        },
    }
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ct = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["cat"])]
    )
    objs["pipeline_on_dataframe"] = make_pipeline(ct, LogisticRegression()).fit(df, y)
    n = sum(dump_all(out, k, v) for k, v in objs.items())
    df.to_pickle(os.path.join(out, "to_pickle.pkl"))
    return n + 1


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    print(estimators(out) + data_objects(out))


if __name__ == "__main__":
    main()
