"""Fits the scikit-learn models scripts/bench measures, saved with joblib.

    python bench/python/train.py regression data/diabetes.csv OUT.joblib
    python bench/python/train.py classifier OUT.joblib
    python bench/python/train.py text OUT.joblib MAX_FEATURES DOCUMENTS

* regression: the scikit-learn twin of model/model.json, LinearRegression on the same training
  rows of data/diabetes.csv (every 5th row held out). Standardizing the features first, as
  stream-infer's model does, does not change an ordinary least-squares fit's predictions, so the
  Python side uses LinearRegression on the raw features, the way its users usually write it.
* classifier: StandardScaler + LogisticRegression on the breast-cancer data (data.cancer()).
* text: TfidfVectorizer(ngram_range=(1, 2), max_features=MAX_FEATURES) + LogisticRegression on
  DOCUMENTS generated documents (data.documents(seed=11, ...)).

stream-infer reads the classifier and text pipelines through `stream-infer import`; both sides
then predict with the same fitted object. Every fit is deterministic.
"""

import csv
import sys

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import data

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
TARGET = "progression"
HOLDOUT_EVERY = 5
TEXT_SEED = 11


def regression(csv_path, out_path):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    training = [r for i, r in enumerate(rows) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    x = np.array([[float(r[name]) for name in FEATURES] for r in training])
    y = np.array([float(r[TARGET]) for r in training])
    joblib.dump(LinearRegression().fit(x, y), out_path)


def classifier(out_path):
    _, rows, labels = data.cancer()
    model = Pipeline([("scale", StandardScaler()),
                      ("classify", LogisticRegression(max_iter=5000))])
    model.fit(np.array(rows), np.array(labels))
    joblib.dump(model, out_path)


def text(out_path, max_features, count):
    docs = data.documents(TEXT_SEED, int(count))
    model = Pipeline([("tfidf", TfidfVectorizer(ngram_range=(1, 2), max_features=int(max_features))),
                      ("classify", LogisticRegression(max_iter=5000))])
    model.fit([d for d, _ in docs], [label for _, label in docs])
    terms = len(model.named_steps["tfidf"].vocabulary_)
    if terms != int(max_features):
        sys.exit(f"train.py: the corpus has only {terms} terms, fewer than max_features={max_features}")
    joblib.dump(model, out_path)


if __name__ == "__main__":
    {"regression": regression, "classifier": classifier, "text": text}[sys.argv[1]](*sys.argv[2:])
