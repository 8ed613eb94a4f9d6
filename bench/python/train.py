"""Fits the scikit-learn twin of model/model.json: LinearRegression on data/diabetes.csv, on the
same training rows (every 5th row held out), saved with joblib.

Standardizing the features first, as stream-infer's model does, does not change an ordinary
least-squares fit's predictions, so the Python side uses LinearRegression on the raw features,
the way its users usually write it.

    python bench/python/train.py data/diabetes.csv OUT.joblib
"""

import csv
import sys

import joblib
import numpy as np
from sklearn.linear_model import LinearRegression

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
TARGET = "progression"
HOLDOUT_EVERY = 5


def main(csv_path, out_path):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    training = [r for i, r in enumerate(rows) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    x = np.array([[float(r[name]) for name in FEATURES] for r in training])
    y = np.array([float(r[TARGET]) for r in training])
    model = LinearRegression().fit(x, y)
    joblib.dump(model, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
