"""scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``) on the package's
estimators, with every exemption named and justified.

* ``FromScratchClassifier`` takes numeric columns: it runs the whole ``check_estimator``
  suite. With ``threshold_metric=None`` nothing is exempt; the default (a binary threshold
  chosen on validation) is exempt from one check, for the reason scikit-learn exempts its
  own ``FixedThresholdClassifier``.
* ``TransferClassifier`` takes texts or images (its backbone refuses numeric columns) and
  its tags say so, so ``check_estimator`` itself skips the data checks. Here every check of
  the classifier suite is still run on it: those that feed it numeric arrays are exempt
  (``TRANSFER_EXEMPT``, with the reason), the others must pass -- and the properties the
  exempt ones test are checked on texts instead.
* ``FineTuneClassifier`` and ``DeepDomainAdaptation`` (same inputs, a backbone trained per
  fit): the checks that need no data.

An exemption that no longer fails, or a check scikit-learn adds, fails the test.
"""

from __future__ import annotations

import pickle
import unittest
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks, get_tags
from sklearn.utils.estimator_checks import check_estimator, estimator_checks_generator
from sklearn.utils.validation import check_is_fitted

from transferkit import (
    FromScratchClassifier,
    FromScratchRegressor,
    TransferClassifier,
    TransferkitError,
    TransferRegressor,
)
from transferkit.adapt.deep.estimator import DeepDomainAdaptation
from transferkit.finetune import FineTuneClassifier, FineTuneRegressor

# check_array_api_input runs only where SCIPY_ARRAY_API=1 was set before scipy was imported
# (it passes then); elsewhere scikit-learn skips it. No other check may skip.
MAY_SKIP = {"check_array_api_input"}

# FromScratchClassifier(threshold_metric=None) on numeric data: nothing is exempt.
FROM_SCRATCH_EXEMPT: dict[str, str] = {}

# FromScratchClassifier() as constructed by default (threshold_metric="f1").
FROM_SCRATCH_DEFAULT_EXEMPT = {
    "check_classifiers_train": (
        "binary predictions use the decision threshold chosen on validation "
        "(threshold_metric='f1', threshold_), so predict is not argmax(predict_proba) on "
        "every sample -- by design, as scikit-learn's FixedThresholdClassifier, which it "
        "exempts from this check for the same reason; with threshold_metric=None it passes"),
}

INPUTS = "TransferClassifier's inputs are texts or images (its backbone refuses numeric columns)"
NUMERIC = f"fits on a 2-D array of numbers; {INPUTS}"
TRANSFER_EXEMPT = {
    "check_fit_score_takes_y": NUMERIC,
    "check_estimators_overwrite_params": NUMERIC + " (checked on texts below)",
    "check_dont_overwrite_parameters": NUMERIC + " (checked on texts below)",
    "check_estimators_fit_returns_self": NUMERIC + " (checked on texts below)",
    "check_readonly_memmap_input": NUMERIC,
    "check_positive_only_tag_during_fit": f"fits on iris's numeric columns; {INPUTS}",
    "check_estimators_dtypes": f"numeric arrays of several dtypes; {INPUTS}",
    "check_dtype_object": f"numbers in a 2-D object array; {INPUTS}",
    "check_estimators_empty_data_messages": (
        "wants scikit-learn's '0 feature(s)' message for a (12, 0) numeric array: texts and "
        "images have no feature columns (no samples at all is refused in one line)"),
    "check_pipeline_consistency": NUMERIC,
    "check_estimators_nan_inf": f"NaN and infinity in numeric columns; {INPUTS}",
    "check_estimators_pickle": NUMERIC + " (checked on texts below)",
    "check_array_api_input": f"array API dispatch on numeric arrays; {INPUTS}",
    "check_f_contiguous_array_estimator": NUMERIC,
    "check_classifier_data_not_an_array": f"numeric arrays as lists and array-likes; {INPUTS}",
    "check_classifiers_classes": NUMERIC,
    "check_classifiers_train": NUMERIC + " (fit/predict on texts: tests/test_estimator.py)",
    "check_supervised_y_2d": NUMERIC,
    "check_methods_sample_order_invariance": NUMERIC,
    "check_methods_subset_invariance": NUMERIC + " (checked on texts below)",
    "check_fit2d_1feature": f"a one-column numeric array; {INPUTS}",
    "check_dict_unchanged": NUMERIC,
    "check_fit_idempotent": NUMERIC + " (checked on texts below)",
    "check_fit_check_is_fitted": NUMERIC + " (checked on texts below)",
    "check_n_features_in": NUMERIC + "; texts and images have no n_features_in_",
    "check_fit2d_predict1d": NUMERIC,
}

# Checks that need no data (and so no backbone): every estimator on a backbone passes them.
DATA_FREE = [
    "check_estimator_cloneable", "check_estimator_repr", "check_estimator_tags_renamed",
    "check_valid_tag_types", "check_mixin_order", "check_no_attributes_set_in_init",
    "check_get_params_invariance", "check_set_params", "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params", "check_estimators_unfitted",
]


def failures(results: list[dict], exempt: dict[str, str]) -> dict[str, str]:
    """What is wrong with a run of ``check_estimator``: checks that failed, exemptions that
    passed (no longer needed), skips other than ``MAY_SKIP``."""
    wrong = {}
    for r in results:
        name, status = r["check_name"], r["status"]
        if status == "failed":
            wrong[name] = f"failed: {type(r['exception']).__name__}: {r['exception']}"
        elif status == "passed" and name in exempt:
            wrong[name] = "passes, yet is exempt: drop the exemption"
        elif status == "skipped" and name not in MAY_SKIP:
            wrong[name] = f"skipped: {r['exception']}"
    return wrong


def test_from_scratch_passes_check_estimator_on_numeric_data():
    results = check_estimator(FromScratchClassifier(threshold_metric=None),
                              expected_failed_checks=FROM_SCRATCH_EXEMPT, on_fail=None,
                              on_skip=None)
    assert len({r["check_name"] for r in results}) > 40  # the whole suite ran
    assert failures(results, FROM_SCRATCH_EXEMPT) == {}


def test_from_scratch_regressor_passes_check_estimator_on_numeric_data():
    """The ridge baseline is a scikit-learn regressor: no predict_proba, y as any
    array-like (a column (n, 1) with a DataConversionWarning), y=None refused as sklearn
    words it -- every check passes, none exempt."""
    from transferkit import FromScratchRegressor

    results = check_estimator(FromScratchRegressor(), on_fail=None, on_skip=None)
    assert len({r["check_name"] for r in results}) > 40
    assert failures(results, {}) == {}
    assert not hasattr(FromScratchRegressor(), "predict_proba")


def test_from_scratch_default_is_exempt_only_for_its_tuned_threshold():
    results = check_estimator(FromScratchClassifier(),
                              expected_failed_checks=FROM_SCRATCH_DEFAULT_EXEMPT, on_fail=None,
                              on_skip=None)
    assert failures(results, FROM_SCRATCH_DEFAULT_EXEMPT) == {}
    xfailed = [r for r in results if r["status"] == "xfail"]
    assert {r["check_name"] for r in xfailed} == set(FROM_SCRATCH_DEFAULT_EXEMPT)
    for r in xfailed:  # what fails is the agreement of predict with argmax(predict_proba)
        assert isinstance(r["exception"], AssertionError)
        assert "Arrays are not equal" in str(r["exception"])


def classifier_suite() -> Iterator[tuple[str, Callable]]:
    """(name, check(estimator)) for every check scikit-learn runs on a classifier of numeric
    columns (FromScratchClassifier's suite), named for TransferClassifier."""
    for _, check in estimator_checks_generator(FromScratchClassifier(threshold_metric=None)):
        # check = partial(function, estimator name, **options such as readonly_memmap)
        yield check.func.__name__, partial(check.func, "TransferClassifier", *check.args[1:],
                                           **check.keywords)


def test_transfer_classifier_tags_say_texts_or_images():
    tags = get_tags(TransferClassifier())
    assert not tags.input_tags.two_d_array and not tags.input_tags.sparse
    assert tags.input_tags.string and tags.input_tags.three_d_array
    assert get_tags(FromScratchClassifier()).input_tags.sparse


def test_transfer_classifier_passes_every_check_that_applies(isolated_cache):
    suite = list(classifier_suite())
    names = {name for name, _ in suite}
    assert set(TRANSFER_EXEMPT) <= names, "exempt checks scikit-learn no longer runs"
    wrong = {}
    for name, check in suite:
        try:
            check(TransferClassifier(backbone="minilm"))
        except unittest.SkipTest as exc:  # what scikit-learn's checks raise to skip
            if name not in MAY_SKIP:
                wrong[name] = f"skipped: {exc}"
        except Exception as exc:
            if name not in TRANSFER_EXEMPT:
                wrong[name] = f"failed: {type(exc).__name__}: {exc}"
        else:
            if name in TRANSFER_EXEMPT:
                wrong[name] = "passes, yet is exempt: drop the exemption"
    assert wrong == {}
    assert len(names - set(TRANSFER_EXEMPT)) >= 20  # API, labels, not-fitted, sparse refused


def test_transfer_classifier_keeps_the_exempt_checks_promises_on_texts(sentiment_texts,
                                                                      isolated_cache):
    texts, y = sentiment_texts
    clf = TransferClassifier(backbone="minilm")
    params = clf.get_params()
    with pytest.raises(NotFittedError, match="not fitted yet -- call fit"):
        clf.predict(texts)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert clf.fit(texts, y) is clf  # check_estimators_fit_returns_self
    check_is_fitted(clf)  # check_fit_check_is_fitted
    assert clf.get_params() == params  # check_estimators_overwrite_params
    public = {k for k in vars(clf) if not k.startswith("_")}
    assert all(k.endswith("_") for k in public - set(params))  # check_dont_overwrite_parameters
    assert not hasattr(clf, "n_features_in_")  # texts have no feature columns
    proba = clf.predict_proba(texts)
    np.testing.assert_allclose(clf.predict_proba(texts[:5]), proba[:5], atol=1e-6)  # subsets
    np.testing.assert_allclose(clone(clf).fit(texts, y).predict_proba(texts), proba,
                               atol=1e-6)  # check_fit_idempotent
    again = pickle.loads(pickle.dumps(clf))  # check_estimators_pickle
    np.testing.assert_allclose(again.predict_proba(texts), proba, atol=1e-6)


def test_not_fitted_is_one_line_and_sklearns_error():
    with pytest.raises(TransferkitError) as info:
        FromScratchClassifier().predict(np.zeros((2, 3)))
    assert isinstance(info.value, NotFittedError) and "\n" not in str(info.value)


@pytest.mark.parametrize("estimator", [FineTuneClassifier(), FineTuneRegressor(),
                                       DeepDomainAdaptation(), TransferRegressor(),
                                       FromScratchRegressor(),
                                       TransferClassifier(task="multilabel")],
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("name", DATA_FREE)
def test_backbone_estimators_pass_the_checks_without_data(estimator, name):
    getattr(estimator_checks, name)(type(estimator).__name__, estimator)
