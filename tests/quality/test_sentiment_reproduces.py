"""training/sentiment/train.py rebuilds the committed sentiment model from the committed
data: the same vocabulary, weights equal up to float rounding, the same labels on the test
split. Fails when the data, the featurizer or the training code changed without the model
being retrained (or the other way round)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from socialcare.enrichment.sentiment_model import MODEL_DIR, LinearModel, ModelFiles
from training.sentiment import corpus, train


def test_train_reproduces_the_committed_model(tmp_path: Path) -> None:
    train.main(["--out", str(tmp_path), "--folds", "0"])  # CV figures are not part of it
    committed, rebuilt = ModelFiles(MODEL_DIR), ModelFiles(tmp_path)

    assert json.loads(rebuilt.vocabulary.read_text(encoding="utf-8")) == json.loads(
        committed.vocabulary.read_text(encoding="utf-8")
    )
    old_meta = json.loads(committed.metadata.read_text(encoding="utf-8"))
    new_meta = json.loads(rebuilt.metadata.read_text(encoding="utf-8"))
    for key in ("model", "features", "classifier", "training_data_sha256", "vocabulary_size"):
        assert new_meta[key] == old_meta[key], key
    with np.load(committed.weights) as old, np.load(rebuilt.weights) as new:
        for name in ("weights", "bias", "idf"):
            np.testing.assert_allclose(new[name], old[name], rtol=1e-3, atol=1e-4, err_msg=name)

    old_model, new_model = LinearModel.load(MODEL_DIR), LinearModel.load(tmp_path)
    test = corpus.test()
    differ = [
        e.text
        for e in test
        if np.argmax(old_model.probabilities(e.text, e.language))
        != np.argmax(new_model.probabilities(e.text, e.language))
    ]
    assert not differ, f"{len(differ)} of {len(test)} test messages change label: {differ[:3]}"
