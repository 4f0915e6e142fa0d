"""The contract every registered strategy keeps (PEFT-style: a method touches no persistence
code outside its own module): fit, save, load, identical predictions; and its ``file:``
backbone gives the trained features."""

import numpy as np
import pytest

from transferkit.backbones import load_backbone
from transferkit.finetune import FineTuneClassifier
from transferkit.finetune.strategies import STRATEGIES
from transferkit.runformat import load_run

OPTIONS = {"partial": {"freeze": 1}}  # strategies whose options have no default


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_fit_save_load_predict_identically(name, tiny_bert_nodrop, texts, tmp_path):
    X, y = texts
    clf = FineTuneClassifier(backbone=tiny_bert_nodrop, strategy=name,
                             strategy_params=OPTIONS.get(name), epochs=2, lr=1e-3,
                             batch_size=8, random_state=3).fit(X, y)
    clf.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert type(again) is FineTuneClassifier
    assert np.allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert (again.predict(X) == clf.predict(X)).all()
    assert again.strategy_.describe() == clf.strategy_.describe()
    # the run as a backbone elsewhere: the trained (merged) backbone, not the base one
    reused = load_backbone(f"file:{tmp_path / 'run'}")
    inputs = reused.prepare(X[:4])
    expected = clf.transfer_backbone().eval()(**inputs).detach().numpy()
    assert np.allclose(reused(**inputs).detach().numpy(), expected, atol=1e-5)
