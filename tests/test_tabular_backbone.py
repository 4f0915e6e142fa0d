"""The tabular backbone: column schema encodings, unknown categories, one-line errors, the
high-cardinality warning, persistence (schema JSON, safetensors checkpoint), training."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from transferkit.adapt import AdaptWarning
from transferkit.backbones import load_backbone
from transferkit.backbones.checkpoint import load_backbone_file, save_backbone
from transferkit.backbones.tabular import ColumnSchema, FastDropout, TabularMLP
from transferkit.errors import TransferkitError
from transferkit.heads.base import single_thread

S_INCOME = np.sqrt(200 / 3)  # std (ddof 0) of 10, 20, 30
S_AGE = np.sqrt(125)  # std of 20, 30, 40, 50


@pytest.fixture
def frame():
    """Numeric (one with a missing value), low-cardinality text (with a missing value) and
    integer categories, and a higher-cardinality text column (embedded at onehot_max=2)."""
    return pd.DataFrame({
        "income": [10.0, 20.0, np.nan, 30.0],
        "age": [20.0, 30.0, 40.0, 50.0],
        "colour": ["red", "blue", "red", None],
        "grade": [1, 2, 2, 1],
        "shop": ["s1", "s2", "s3", "s1"],
    })


@pytest.fixture
def schema(frame):
    return ColumnSchema.fit(frame, onehot_max=2)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and " -- " in text
    return text


def test_schema_kinds_and_exact_encoding(frame, schema):
    kinds = {c.name: (c.kind, c.encoding if c.kind == "categorical" else None)
             for c in schema.columns}
    assert kinds == {"income": ("numeric", None), "age": ("numeric", None),
                     "colour": ("categorical", "onehot"), "grade": ("categorical", "onehot"),
                     "shop": ("categorical", "embedding")}
    assert schema.output_names() == ["income", "age", "income=missing", "colour=blue",
                                     "colour=red", "colour=missing", "grade=1", "grade=2"]
    enc = schema.encode(frame)
    assert enc["numeric"].dtype == torch.float32 and enc["categories"].dtype == torch.int64
    expected = np.array([
        # income (missing -> mean), age, income=missing, colour b/r/missing, grade 1/2
        [-10 / S_INCOME, -15 / S_AGE, 0, 0, 1, 0, 1, 0],
        [0, -5 / S_AGE, 0, 1, 0, 0, 0, 1],
        [0, 5 / S_AGE, 1, 0, 1, 0, 0, 1],
        [10 / S_INCOME, 15 / S_AGE, 0, 0, 0, 1, 1, 0],
    ], dtype=np.float32)
    np.testing.assert_allclose(enc["numeric"].numpy(), expected, rtol=1e-6, atol=1e-6)
    # shop: code 0 is unknown, categories s1 < s2 < s3 are 1..3
    assert enc["categories"].numpy().tolist() == [[1], [2], [3], [1]]
    shop = schema.embedded[0]
    assert shop.n_codes == 4 and shop.embed_dim >= 2


def test_default_thresholds_and_explicit_categorical():
    n = 40
    df = pd.DataFrame({"few": np.arange(n) % 12, "many": np.arange(n) % 13,
                       "c16": [f"v{i % 16}" for i in range(n)],
                       "c17": [f"v{i % 17}" for i in range(n)],
                       "flag": np.arange(n) % 2 == 0, "x": np.linspace(0, 1, n)})
    by_name = {c.name: c for c in ColumnSchema.fit(df).columns}
    assert by_name["few"].kind == "categorical"  # integers, <= 12 distinct values
    assert by_name["many"].kind == "numeric"
    assert by_name["c16"].encoding == "onehot" and by_name["c17"].encoding == "embedding"
    assert by_name["flag"].kind == "categorical" and by_name["flag"].categories == [0, 1]
    assert by_name["x"].kind == "numeric"
    # an explicit list decides for numeric columns; text stays categorical
    by_name = {c.name: c for c in ColumnSchema.fit(df, categorical=["many"]).columns}
    assert by_name["many"].kind == "categorical" and by_name["few"].kind == "numeric"
    assert by_name["c16"].kind == "categorical"
    with pytest.raises(TransferkitError, match="categorical column.*nope.*not in the table"):
        ColumnSchema.fit(df, categorical=["nope"])


def test_unseen_categories_and_missing_values_at_predict_time(schema):
    target = pd.DataFrame({
        "label": [0, 1],  # an extra column: ignored
        "shop": ["s9", "s2"], "grade": [7, np.nan], "colour": ["green", None],
        "age": [np.nan, 30.0], "income": [None, 20.0],
    })
    enc = schema.encode(target)
    numeric = enc["numeric"].numpy()
    # income missing -> mean + indicator; age (never missing in training) -> mean, no indicator
    np.testing.assert_allclose(numeric[0], [0, 0, 1, 0, 0, 0, 0, 0], atol=1e-6)
    # colour None -> its 'missing' category; grade missing (none in training) -> unknown
    np.testing.assert_allclose(numeric[1], [0, -5 / S_AGE, 0, 0, 0, 1, 0, 0], atol=1e-6)
    assert enc["categories"].numpy().tolist() == [[0], [2]]  # s9 -> unknown


def test_item_forms_encode_alike(frame, schema):
    """DataFrame, the rows array, the loop's list of its rows and object rows agree."""
    rows = schema.rows(frame)
    assert rows.shape == (4, 5) and rows.dtype == object  # text columns
    ref = schema.encode(frame)
    for items in (rows, [rows[i] for i in range(4)], [list(r) for r in rows],
                  frame.to_dict("records")):
        got = schema.encode(items)
        assert all(torch.equal(ref[k], got[k]) for k in ref)
    numbers = pd.DataFrame({"x": [1.5, np.nan, 3.0], "code": [1, 2, 2]})
    s2 = ColumnSchema.fit(numbers)
    rows = s2.rows(numbers)
    assert rows.dtype == np.float64  # every column holds numbers: one float array
    enc = s2.encode([rows[i] for i in (2, 0)])
    assert enc["numeric"].numpy().tolist() == s2.encode(numbers.iloc[[2, 0]])["numeric"] \
        .numpy().tolist()
    assert s2.encode(rows[:0])["numeric"].shape == (0, s2.numeric_dim)


def test_target_missing_a_source_column_is_one_line(frame, schema):
    with pytest.raises(TransferkitError, match="lacks column\\(s\\) shop") as exc:
        schema.encode(frame.drop(columns=["shop"]))
    assert "extra columns are ignored" in one_line(exc)
    with pytest.raises(TransferkitError, match="lacks column\\(s\\) age, shop"):
        schema.rows(frame.drop(columns=["shop", "age"]))
    with pytest.raises(TransferkitError, match="rows have 4 columns but the schema has 5") as e:
        schema.encode(np.zeros((2, 4)))
    one_line(e)


def test_bad_values_are_one_line(schema, frame):
    bad = frame.astype({"income": object})
    bad.loc[1, "income"] = "lots"
    with pytest.raises(TransferkitError, match="column 'income' is numeric but holds 'lots'") \
            as exc:
        schema.encode(bad)
    one_line(exc)
    inf = frame.copy()
    inf.loc[0, "age"] = np.inf
    with pytest.raises(TransferkitError, match="'age' holds an infinite value"):
        schema.encode(inf)


def test_ten_thousand_categories_are_embedded_with_a_warning():
    ids = pd.DataFrame({"customer": [f"id{i}" for i in range(10_000)],
                        "x": np.arange(10_000, dtype=float)})
    with pytest.warns(AdaptWarning, match="'customer' has 10,000 distinct values: it is "
                                          "embedded") as record:
        schema = ColumnSchema.fit(ids)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    spec = schema.columns[0]
    assert spec.encoding == "embedding" and spec.embed_dim == 32
    codes = schema.encode(pd.DataFrame({"customer": ["id0", "id9999", "new"], "x": 0.0}))
    assert codes["categories"].numpy().ravel().tolist() == [1, 10_000, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ColumnSchema.fit(ids.iloc[:9_999])  # below the threshold: no warning


def test_schema_json_round_trip(frame, schema):
    again = ColumnSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.output_names() == schema.output_names()
    a, b = schema.encode(frame), again.encode(frame)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TransferkitError, match="not a column schema"):
        ColumnSchema.from_dict({"cols": []})


def test_backbone_contract(frame, schema):
    bb = TabularMLP(schema, hidden=(16, 8, 4))
    assert bb.modality == "tabular" and bb.feature_dim == 4
    assert bb.preprocessing.extra == {"schema": schema.to_dict()}
    groups = bb.layer_groups()
    assert [g.name for g in groups] == ["input", "block1", "block2"]
    assert {id(p) for g in groups for p in g.parameters()} == {id(p) for p in bb.parameters()}
    assert bb.embeddings in groups[0].modules and len(groups[0].parameters()) == 3
    feats = bb.eval()(**bb.prepare(schema.rows(frame)))
    assert feats.shape == (4, 4)
    assert bb.describe()["init_config"]["hidden"] == [16, 8, 4]
    with torch.no_grad():  # the unknown code embeds to zero and is not trained
        assert bb.embeddings[0].weight[0].abs().sum() == 0
    with pytest.raises(TransferkitError, match="hidden must be a positive integer"):
        TabularMLP(schema, hidden=(16, 0))


def test_fast_dropout_behaves_as_dropout():
    drop = FastDropout(0.1)
    x = torch.ones(512, 256)
    torch.manual_seed(0)
    y = drop.train()(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.9) < 0.005 and torch.allclose(y[y != 0], torch.tensor(1 / 0.9))
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)  # seeded by the global RNG, like nn.Dropout
    assert drop.eval()(x) is x and FastDropout(0.0).train()(x) is x
    assert drop.train()(x.bfloat16()).dtype == torch.bfloat16
    assert isinstance(drop, nn.Dropout)


def test_seeded_init_is_deterministic(schema):
    a, b, c = (TabularMLP(schema, hidden=(8,), seed=s) for s in (0, 0, 1))
    state_a, state_b, state_c = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    TabularMLP(schema, hidden=(8,))
    assert torch.equal(torch.rand(1), before)  # the global RNG is untouched


def test_checkpoint_round_trip_gives_identical_features(tmp_path, frame, schema):
    src = TabularMLP(schema, hidden=(16, 8), dropout=0.2, seed=3)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.05)  # "trained" weights: not what the seed gives
    ckpt = tmp_path / "backbone.safetensors"
    save_backbone(src, ckpt)
    for loaded in (load_backbone_file(ckpt), load_backbone(f"file:{ckpt}")):
        assert isinstance(loaded, TabularMLP) and loaded.schema == schema
        assert loaded.hidden == (16, 8) and loaded.dropout == 0.2
        x = loaded.prepare(schema.rows(frame))
        with torch.no_grad():
            assert torch.equal(src.eval()(**x), loaded(**x))
    # the registry rebuilds the architecture from its config; without one it is one line
    rebuilt = load_backbone("tabular_mlp", src.init_config())
    assert rebuilt.fingerprint() == TabularMLP(schema, (16, 8), 0.2, seed=3).fingerprint()
    with pytest.raises(TransferkitError, match="'tabular_mlp' needs the column schema") as exc:
        load_backbone("tabular_mlp")
    one_line(exc)
    with pytest.raises(TransferkitError, match="'lenet' does not take the configuration"):
        load_backbone("lenet", {"schema": {}})


def synthetic_rule(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """y = (x > 0) XOR (the shop is in the first half of 40 shops); 10 % of x missing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    shop = rng.integers(0, 40, size=n)
    y = ((x > 0) ^ (shop < 20)).astype(np.int64)
    x[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=n),
                       "shop": [f"shop{s}" for s in shop],
                       "colour": rng.choice(["red", "green", "blue"], size=n)})
    return df, np.where(np.isnan(x), rng.integers(0, 2, size=n), y)


def train(schema: ColumnSchema, df: pd.DataFrame, y: np.ndarray, epochs: int, seed: int = 0
          ) -> tuple[TabularMLP, nn.Linear]:
    """A plain torch loop over TabularMLP + nn.Linear, batches as the training loop makes
    them (``prepare`` of a list of rows)."""
    torch.manual_seed(seed)
    bb = TabularMLP(schema, hidden=(64, 64), seed=seed)
    head = nn.Linear(bb.feature_dim, 2)
    opt = torch.optim.AdamW([*bb.parameters(), *head.parameters()], lr=3e-3)
    rows, labels = schema.rows(df), torch.from_numpy(y)
    rng = np.random.default_rng(seed)
    bb.train()
    with single_thread():  # small ops: a second thread only adds waiting on 2 shared cores
        for _ in range(epochs):
            order = rng.permutation(len(rows))
            for start in range(0, len(rows), 128):
                idx = order[start:start + 128]
                inputs = bb.prepare([rows[i] for i in idx])
                loss = nn.functional.cross_entropy(head(bb(**inputs)), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return bb.eval(), head


def accuracy(bb: TabularMLP, head: nn.Linear, df: pd.DataFrame, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = head(bb(**bb.prepare(df))).argmax(1).numpy()
    return float((pred == y).mean())


def test_training_learns_a_rule_over_numbers_and_embedded_categories():
    df, y = synthetic_rule(3000, seed=0)
    test_df, test_y = synthetic_rule(1000, seed=1)
    schema = ColumnSchema.fit(df)
    assert [c.name for c in schema.embedded] == ["shop"]  # 40 shops > 16: embedded
    bb, head = train(schema, df, y, epochs=15)
    known = ~test_df["x"].isna().to_numpy()  # where the rule decides the label
    assert accuracy(bb, head, test_df[known], test_y[known]) > 0.9  # chance: 0.5
    again, head2 = train(schema, df, y, epochs=1)
    bb1, head1 = train(schema, df, y, epochs=1)
    with torch.no_grad():  # same seeds, same data: the same model
        x = bb1.prepare(test_df)
        assert torch.equal(head1(bb1(**x)), head2(again(**x)))


def test_credit_default_schema_and_transfer(shared_data):
    """The real credit-default table: source = education 1-2, target = education 3 (a
    category the source never saw, so it is 'unknown' there); a short training ranks the
    target's defaults well above chance."""
    from sklearn.metrics import roc_auc_score

    path = shared_data("credit_default_taiwan_uci", "UCI_Credit_Card.csv")
    df = pd.read_csv(path)
    y = df.pop("default.payment.next.month").to_numpy().copy()
    df = df.drop(columns=["ID"])
    categorical = ["SEX", "EDUCATION", "MARRIAGE"] + [c for c in df if c.startswith("PAY_")
                                                        and not c.startswith("PAY_AMT")]
    source = df["EDUCATION"].isin([1, 2]).to_numpy()
    target = (df["EDUCATION"] == 3).to_numpy()
    schema = ColumnSchema.fit(df[source], categorical=categorical)
    assert {c.name for c in schema.columns if c.kind == "categorical"} == set(categorical)
    assert ColumnSchema.fit(df[source]) == schema  # the inference finds the same columns
    assert next(c for c in schema.columns if c.name == "EDUCATION").categories == [1, 2]
    enc = schema.encode(df[target].iloc[:5])
    names = schema.output_names()
    edu = [names.index("EDUCATION=1"), names.index("EDUCATION=2")]
    assert enc["numeric"][:, edu].sum() == 0  # education 3: unknown, all zeros
    bb, head = train(schema, df[source], y[source], epochs=2)
    with torch.no_grad():
        p = torch.softmax(head(bb(**bb.prepare(schema.rows(df[target])))), 1)[:, 1]
    assert roc_auc_score(y[target], p.numpy()) > 0.7


def test_the_tabular_backbone_trains_in_the_loop_saves_and_transfers(tmp_path):
    """Through FineTuneClassifier: a source table's model is a run dir whose file: backbone
    (schema included) trains on a target label; mixed number/category rows are tabular."""
    from transferkit.finetune import FineTuneClassifier
    from transferkit.runformat import load_run

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"age": rng.normal(40, 10, n), "limit": rng.exponential(5e4, n),
                          "edu": rng.choice(["grad", "uni", "high"], n),
                          "pay": rng.integers(-2, 8, n)})
    y = ((frame.age > 40) ^ (frame.edu == "uni")).astype(int).to_numpy()
    schema = ColumnSchema.fit(frame, categorical=["edu", "pay"])
    X = schema.rows(frame)
    source = FineTuneClassifier(backbone=TabularMLP(schema), epochs=3, lr=1e-3,
                                batch_size=64).fit(X, y)
    source.save(tmp_path / "src")
    again = load_run(tmp_path / "src")
    assert np.allclose(again.predict_proba(X), source.predict_proba(X))
    other = (frame.limit > 5e4).astype(int).to_numpy()
    target = FineTuneClassifier(backbone=f"file:{tmp_path / 'src'}", epochs=2, lr=1e-3,
                                batch_size=64).fit(X[:150], other[:150])
    assert target.predict(X[150:]).shape == (150,)
    assert target.backbone_.init_config()["schema"] == schema.to_dict()


def test_rows_of_numbers_and_text_are_keyed_by_their_values_in_any_process():
    """An object array's buffer holds memory addresses: the resume check and the feature
    cache must hash the values (equal rows built apart give equal keys)."""
    import subprocess
    import sys

    from transferkit.data.dataset import item_digests
    from transferkit.finetune.loop import data_digest

    code = ("import numpy as np;from transferkit.data.dataset import item_digests;"
            "from transferkit.finetune.loop import data_digest;"
            "X=np.array([[1.5,'uni'],[2.0,'grad']],dtype=object);"
            "print(data_digest(X,np.array([0,1])), item_digests(X,'tabular')[0].decode())")
    here = np.array([[1.5, "uni"], [2.0, "grad"]], dtype=object)
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()
    assert there == [data_digest(here, np.array([0, 1])),
                     item_digests(here, "tabular")[0].decode()]
    other = np.array([[1.5, "high"], [2.0, "grad"]], dtype=object)
    assert data_digest(other, np.array([0, 1])) != data_digest(here, np.array([0, 1]))
