"""Loaders, splits and the one-line errors for bad data."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from transferkit.data import load_dataset, per_class_subsample, stratified_split, to_uint8
from transferkit.errors import TransferkitError


def test_image_folder_keeps_class_names(image_folder):
    ds = load_dataset(image_folder)
    assert ds.modality == "image"
    assert len(ds) == 20
    assert sorted(set(ds.y)) == ["blue", "red"]


def test_image_folder_with_given_splits(tmp_path):
    from conftest import make_image_folder

    make_image_folder(tmp_path / "d" / "train", n_per_class=6)
    make_image_folder(tmp_path / "d" / "test", n_per_class=3, seed=1)
    ds = load_dataset(tmp_path / "d")
    assert sorted(set(ds.split)) == ["test", "train"]
    split = stratified_split(ds.y, given=ds.split, val_size=0.25)
    assert len(split.test) == 6 and set(ds.split[split.test]) == {"test"}
    assert len(split.val) == 3 and "user-given" in split.protocol


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TransferkitError, match="no images found"):
        load_dataset(tmp_path / "empty")


def test_one_class_is_a_clear_error(image_folder):
    import shutil

    shutil.rmtree(image_folder / "blue")
    with pytest.raises(TransferkitError, match="only one class"):
        load_dataset(image_folder)


def test_table_text_numeric_and_image_columns(tmp_path, image_folder):
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]}).to_csv(
        tmp_path / "t.csv", index=False)
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.modality == "text" and ds.X == ["a", "b", "c", "d"]

    pd.DataFrame({"f1": [1.0, 2, 3, 4], "f2": [0.5, 0, 1, 2], "y": ["a", "b", "a", "b"]}).to_csv(
        tmp_path / "n.tsv", sep="\t", index=False)
    ds = load_dataset(tmp_path / "n.tsv", label_column="y")
    assert ds.modality == "tabular" and ds.X.shape == (4, 2)

    rel = ["images/red/0.png", "images/blue/0.png"]
    pd.DataFrame({"image": rel, "label": ["red", "blue"]}).to_parquet(tmp_path / "i.parquet")
    ds = load_dataset(tmp_path / "i.parquet")
    assert ds.modality == "image" and all(p.endswith(".png") for p in ds.X)


def test_table_without_label_column(tmp_path):
    pd.DataFrame({"text": ["a", "b"], "target": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TransferkitError, match="no label column 'label'.*--label-column"):
        load_dataset(tmp_path / "t.csv")


def test_nan_features_are_rejected(tmp_path):
    np.savez(tmp_path / "f.npz", X=np.array([[1.0, np.nan], [0, 1], [2, 2]]), y=[0, 1, 0])
    with pytest.raises(TransferkitError, match="NaN"):
        load_dataset(tmp_path / "f.npz")


def test_npz_and_mat_arrays(tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 3))
    np.savez(tmp_path / "f.npz", X=X, y=[0, 1, 0, 1, 0, 1])
    savemat(tmp_path / "f.mat", {"fts": X, "labels": np.array([[1], [2], [1], [2], [1], [2]])})
    a, b = load_dataset(tmp_path / "f.npz"), load_dataset(tmp_path / "f.mat")
    assert np.allclose(a.X, b.X) and a.modality == b.modality == "tabular"
    with pytest.raises(TransferkitError, match="expected a feature or image array"):
        np.savez(tmp_path / "g.npz", A=X)
        load_dataset(tmp_path / "g.npz")


def test_npz_images_and_unlabelled_arrays(tmp_path):
    images = np.random.default_rng(0).random((4, 16, 16))  # floats in [0, 1]
    np.savez(tmp_path / "img.npz", X=images, y=[0, 1, 0, 1])
    np.savez(tmp_path / "unlabelled.npz", X=images)
    ds, unlabelled = load_dataset(tmp_path / "img.npz"), load_dataset(tmp_path / "unlabelled.npz")
    assert ds.modality == unlabelled.modality == "image"
    assert ds.X.dtype == np.uint8 and ds.X.shape == (4, 16, 16) and unlabelled.y is None
    np.savez(tmp_path / "bad.npz", X=images, y=[0, 1])
    with pytest.raises(TransferkitError, match="has 2 labels"):
        load_dataset(tmp_path / "bad.npz")


def test_unknown_format_and_missing_path(tmp_path):
    (tmp_path / "x.xyz").write_text("?")
    with pytest.raises(TransferkitError, match="don't know how to read"):
        load_dataset(tmp_path / "x.xyz")
    with pytest.raises(TransferkitError, match="not found"):
        load_dataset(tmp_path / "nope")


def test_stratified_split_is_seeded_and_disjoint():
    y = np.repeat([0, 1, 2], 50)
    a, b = stratified_split(y, seed=3), stratified_split(y, seed=3)
    assert np.array_equal(a.test, b.test)
    parts = np.concatenate([a.train, a.val, a.test])
    assert len(np.unique(parts)) == len(y)
    assert np.bincount(y[a.test]).tolist() == [10, 10, 10]
    assert not np.array_equal(a.test, stratified_split(y, seed=4).test)


def test_per_class_subsample():
    y = np.repeat([0, 1], 30)
    idx = per_class_subsample(np.arange(60), y, 5, seed=0)
    assert np.bincount(y[idx]).tolist() == [5, 5]


def test_corrupt_image_is_named(tmp_path, image_folder):
    from transferkit.data import load_rgb

    bad = image_folder / "red" / "broken.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(TransferkitError, match="broken.png"):
        load_rgb(str(bad))
    Image.open(image_folder / "red" / "0.png").verify()  # the others are fine


def test_to_uint8_scales_known_ranges():
    assert to_uint8(np.array([[0.0, 16.0]])).tolist() == [[0, 255]]
    assert to_uint8(np.array([[0.0, 1.0]])).tolist() == [[0, 255]]
    assert to_uint8(np.array([[0, 255]])).tolist() == [[0, 255]]
