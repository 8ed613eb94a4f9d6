"""The data behind the classifier rows of scripts/bench, generated the same way every run.

* `cancer()`: scikit-learn's bundled breast-cancer data (569 rows, 30 numeric features), with
  the feature names made into field names ("mean radius" -> "mean_radius").
* `documents(seed, n)`: English-like text over a synthetic vocabulary whose word frequencies
  follow Zipf's law, about 500 characters each, with a label that a few sentiment words
  predict. Enough distinct unigrams and bigrams for a 50,000-term TF-IDF vocabulary.

Everything here is pure Python with seeded `random.Random`s, so run.py (the events) and
train.py (the models) see the same data on every machine.
"""

import bisect
import itertools
import random

TEXT_FIELD = "textblob"
LABELS = ("negative", "positive")
VOCABULARY_SIZE = 4000
SENTIMENT_WORDS = 60

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def cancer():
    """(feature names, rows, labels) of scikit-learn's breast-cancer data."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    return names, data.data.tolist(), data.target.tolist()


def _vocabulary():
    """Distinct pseudo-words, most frequent first, and the sentiment words of each label."""
    rng = random.Random(1)
    words, seen = [], set()
    while len(words) < VOCABULARY_SIZE + 2 * SENTIMENT_WORDS:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
        if len(word) >= 2 and word not in seen:
            seen.add(word)
            words.append(word)
    common = words[:VOCABULARY_SIZE]
    sentiment = words[VOCABULARY_SIZE:]
    return common, (sentiment[:SENTIMENT_WORDS], sentiment[SENTIMENT_WORDS:])


_COMMON, _SENTIMENT = _vocabulary()
# Zipf's law: the k-th most frequent word has weight 1/k.
_CUMULATIVE = list(itertools.accumulate(1 / (k + 1) for k in range(len(_COMMON))))


def _word(rng):
    return _COMMON[bisect.bisect_left(_CUMULATIVE, rng.random() * _CUMULATIVE[-1])]


def _sentence(rng, label):
    words = [_word(rng) for _ in range(rng.randint(5, 13))]
    if rng.random() < 0.6:
        # Mostly the label's own sentiment words, sometimes the other label's.
        side = label if rng.random() < 0.8 else 1 - label
        words.insert(rng.randrange(len(words) + 1), rng.choice(_SENTIMENT[side]))
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words) + 1), str(rng.randint(2, 2030)))
    if rng.random() < 0.3:
        i = rng.randrange(1, len(words))
        words[i - 1] += ","
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice((".", ".", ".", "!", "?"))


def document(rng, label, chars=500):
    """About `chars` characters: whole sentences until the text is within 10% of `chars`."""
    target = rng.randint(int(chars * 0.9), int(chars * 1.1))
    text = ""
    while len(text) < target:
        text = f"{text} {_sentence(rng, label)}" if text else _sentence(rng, label)
    return text


def documents(seed, n, chars=500):
    """`n` (text, label) pairs; the same seed gives the same documents."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.randrange(2)
        out.append((document(rng, label, chars), LABELS[label]))
    return out
