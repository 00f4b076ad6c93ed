"""The built-in tables: breast_cancer, wine and diabetes (scikit-learn's), and census_synth (generated).

Each is written once into the workspace (workspace/datasets/<name>: table.csv and dataset.json
with its roles, split and task; core.data.tables) and published atomically, like the drawn image
datasets. census_synth is an Adult-like census drawn from a fixed seed: continuous and
categorical columns of several cardinalities, about 5 % of cells missing in a few columns of
both kinds, and an income of "<=50K" or ">50K" drawn from a logistic model that mixes both.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from core.data.csv_reader import write_csv
from core.data.datasets import META_FILE, _publish, _removed_on_failure, drawn_folder
from core.data.tables import TABLE_CSV, Split, TableRoles

CENSUS_SEED = 0
CENSUS_ROWS = 20_000
MISSING = 0.05  # share of cells left empty in the columns that have gaps
EDUCATION = (
    "Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
    "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate",
)  # fmt: skip
EDUCATION_SHARE = (1, 3, 6, 12, 10, 18, 22, 8, 200, 140, 26, 20, 100, 32, 10, 8)
WORKCLASS = {  # name: (share, effect on the log-odds of >50K)
    "Private": (70, 0.0), "Self-emp-not-inc": (8, -0.2), "Self-emp-inc": (4, 0.7), "Local-gov": (7, 0.1),
    "State-gov": (4, 0.0), "Federal-gov": (3, 0.5), "Without-pay": (0.5, -2.0), "Never-worked": (0.3, -2.5),
}  # fmt: skip
OCCUPATION = {
    "Exec-managerial": (12, 1.0), "Prof-specialty": (13, 0.9), "Tech-support": (3, 0.4),
    "Sales": (11, 0.2), "Protective-serv": (2, 0.3), "Craft-repair": (13, -0.1),
    "Adm-clerical": (12, -0.3), "Transport-moving": (5, -0.3), "Machine-op-inspct": (6, -0.6),
    "Farming-fishing": (3, -0.9), "Handlers-cleaners": (4, -1.1), "Other-service": (10, -1.3),
    "Healthcare-support": (3, -0.4), "Priv-house-serv": (0.5, -2.0), "Armed-Forces": (0.1, 0.0),
}  # fmt: skip
MARITAL = {
    "Married-civ-spouse": (46, 1.4), "Never-married": (33, -0.9), "Divorced": (13, -0.4),
    "Separated": (3, -0.6), "Widowed": (3, -0.5), "Married-spouse-absent": (1.5, -0.4),
    "Married-AF-spouse": (0.1, 1.0),
}  # fmt: skip
COUNTRIES = (
    "United-States", "Mexico", "Philippines", "Germany", "Canada", "Puerto-Rico", "El-Salvador", "India",
    "Cuba", "England", "Jamaica", "South", "China", "Italy", "Dominican-Republic", "Vietnam", "Guatemala",
    "Japan", "Poland", "Columbia", "Taiwan", "Haiti", "Iran", "Portugal", "Nicaragua", "Peru", "France",
    "Greece", "Ecuador", "Ireland", "Hong", "Cambodia", "Trinadad&Tobago", "Laos", "Thailand",
    "Yugoslavia", "Outlying-US(Guam-USVI-etc)", "Honduras", "Hungary", "Scotland",
)  # fmt: skip

SKLEARN = {
    "breast_cancer": "Breast cancer (Wisconsin)",
    "wine": "Wine cultivars",
    "diabetes": "Diabetes progression",
}
DIABETES_NAMES = {
    "age": "age", "sex": "sex", "bmi": "bmi", "bp": "blood_pressure", "s1": "total_cholesterol",
    "s2": "ldl", "s3": "hdl", "s4": "cholesterol_hdl_ratio", "s5": "log_triglycerides", "s6": "glucose",
}  # fmt: skip


def _readable(name: str) -> str:
    """A column name as a plain identifier: 'mean radius' → 'mean_radius', 'od280/od315…' → 'od280_od315…'."""
    return "_".join(name.replace("/", " ").split()).lower()


def _sklearn_frame(name: str) -> tuple[pd.DataFrame, TableRoles, str]:
    """The scikit-learn dataset as a frame with readable names, its roles and its description."""
    from sklearn import datasets as sk

    if name == "diabetes":
        bunch = sk.load_diabetes(scaled=False)
        cols = [DIABETES_NAMES[c] for c in bunch.feature_names]
        frame = pd.DataFrame(bunch.data, columns=cols)
        frame["sex"] = frame["sex"].map(lambda v: "female" if v == 1 else "male")  # 1/2 in the source
        frame["age"] = frame["age"].astype(int)
        frame["progression"] = bunch.target.astype(int)
        cont = tuple(c for c in cols if c != "sex")
        return (
            frame,
            TableRoles("progression", ("sex",), cont),
            (
                f"{len(frame)} diabetes patients: age, sex, body-mass index, blood pressure and six blood "
                "serum measurements; the target is a measure of how far the disease progressed a year "
                "later (a number: regression). Small and noisy: compare the network's RMSE with the "
                "gradient-boosting baseline's, and try MSE, MAE and Huber losses."
            ),
        )
    loader = sk.load_breast_cancer if name == "breast_cancer" else sk.load_wine
    bunch = loader()
    cols = [_readable(c) for c in bunch.feature_names]
    frame = pd.DataFrame(bunch.data, columns=cols)
    if name == "breast_cancer":
        frame["diagnosis"] = [str(bunch.target_names[t]) for t in bunch.target]
        return (
            frame,
            TableRoles("diagnosis", (), tuple(cols)),
            (
                f"{len(frame)} breast tumour biopsies described by 30 measurements of their cell nuclei "
                "(radius, texture, smoothness…); the target is malignant or benign. Every input is a "
                "continuous number: learn how Normalize puts them on one scale; a small network reaches "
                "about 95 % accuracy in seconds."
            ),
        )
    frame["cultivar"] = [f"cultivar_{t + 1}" for t in bunch.target]
    return (
        frame,
        TableRoles("cultivar", (), tuple(cols)),
        (
            f"{len(frame)} Italian wines described by 13 chemical measurements (alcohol, flavanoids, "
            "colour intensity…); the target is which of three cultivars the grapes came from: a "
            "three-class table that a network learns almost perfectly."
        ),
    )


def _publish_table(name: str, build) -> tuple:
    """Write name's table.csv and dataset.json (from build() → frame, meta) once; (folder, meta)."""
    target, tmp = drawn_folder(name)
    if tmp is not None:
        with _removed_on_failure(tmp):
            frame, meta = build()
            write_csv(frame, tmp / TABLE_CSV)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        _publish(tmp, target)
    return target, json.loads((target / META_FILE).read_text())


def _sklearn_build(name: str):
    def build():
        frame, roles, description = _sklearn_frame(name)
        task = "tabular_regression" if name == "diabetes" else "tabular_classification"
        meta = {
            "task": task,
            "title": SKLEARN[name],
            "description": description,
            "source": f"sklearn.datasets.load_{name}",
            "roles": roles.to_json(),
            "split": Split().to_json(),
            "rows": len(frame),
        }
        return frame, meta

    return build


def census_frame(seed: int = CENSUS_SEED, n: int = CENSUS_ROWS) -> pd.DataFrame:
    """The census_synth table drawn from seed: inputs of both kinds with gaps, and the income."""
    rng = np.random.default_rng(seed)

    def draw(table: dict) -> tuple[np.ndarray, np.ndarray]:
        names = list(table)
        share = np.array([table[k][0] for k in names], dtype=float)
        idx = rng.choice(len(names), size=n, p=share / share.sum())
        return np.array(names, dtype=object)[idx], np.array([table[k][1] for k in names])[idx]

    age = np.clip(np.round(17 + rng.gamma(3.0, 7.0, n)), 17, 90)
    edu_share = np.array(EDUCATION_SHARE, dtype=float)
    edu_level = rng.choice(len(EDUCATION), size=n, p=edu_share / edu_share.sum())
    workclass, work_effect = draw(WORKCLASS)
    occupation, occ_effect = draw(OCCUPATION)
    marital, marital_effect = draw(MARITAL)
    sex = np.where(rng.random(n) < 0.67, "Male", "Female").astype(object)
    ranks = np.arange(1, len(COUNTRIES))
    tail = 1.0 / ranks**1.1
    share = np.concatenate([[0.88 * tail.sum() / 0.12], tail])
    country_idx = rng.choice(len(COUNTRIES), size=n, p=share / share.sum())
    country_effect = np.concatenate([[0.0], rng.normal(0.0, 0.4, len(COUNTRIES) - 1)])[country_idx]
    hours = np.clip(np.round(rng.normal(40, 11, n) + 3 * (sex == "Male")), 1, 99)
    gain = np.where(rng.random(n) < 0.08, np.round(rng.lognormal(8.3, 1.1, n)), 0.0)
    loss = np.where(rng.random(n) < 0.05, np.round(rng.normal(1900, 350, n).clip(150, 4300)), 0.0)
    logit = (
        -2.3
        + 0.055 * (age - 38)
        - 0.0012 * (age - 38) ** 2
        + 0.32 * (edu_level - 9)
        + work_effect
        + occ_effect
        + marital_effect
        + 0.3 * (sex == "Male")
        + 0.035 * (hours - 40)
        + 0.45 * np.log1p(gain) * (gain > 5000)
        + 0.6 * (loss > 1500)
        + country_effect
    )
    income = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K").astype(object)

    def gaps(values: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        out = pd.array(values) if values.dtype == object else pd.array(values.astype(int), dtype="Int64")
        empty = rng.random(n) < MISSING
        if extra is not None:
            empty |= extra
        out[empty] = pd.NA
        return out

    no_job = np.isin(workclass, ["Never-worked", "Without-pay"])
    return pd.DataFrame(
        {
            "age": gaps(age),
            "workclass": gaps(workclass),
            "education": np.array(EDUCATION, dtype=object)[edu_level],
            "marital_status": marital,
            "occupation": gaps(occupation, no_job),  # as in Adult, no occupation for those without work
            "sex": sex,
            "hours_per_week": gaps(hours),
            "capital_gain": gain.astype(int),
            "capital_loss": loss.astype(int),
            "native_country": gaps(np.array(COUNTRIES, dtype=object)[country_idx]),
            "income": income,
        }
    )


CENSUS_ROLES = TableRoles(
    "income",
    ("workclass", "education", "marital_status", "occupation", "sex", "native_country"),
    ("age", "hours_per_week", "capital_gain", "capital_loss"),
)


def _census_build():
    frame = census_frame()
    meta = {
        "task": "tabular_classification",
        "title": "Census (synthetic)",
        "description": (
            f"{len(frame):,} people in an Adult-like census drawn from seed {CENSUS_SEED}: age, hours "
            "worked, capital gains and losses (mostly zero), and categories from 2 to 40 values "
            "(education with its 16 ordered levels, occupation, workclass, marital status, sex, "
            "native country with a long tail). About 5 % of age, hours, workclass, occupation and "
            "country are missing. Whether income is above 50K was drawn from a model mixing both "
            "kinds of column: learn what Categorify, FillMissing and embeddings do, and compare "
            "with gradient boosting (about 80–85 % accuracy is the best one can expect)."
        ),
        "source": f"generated from seed {CENSUS_SEED}",
        "roles": CENSUS_ROLES.to_json(),
        "split": Split().to_json(),
        "rows": len(frame),
        "seed": CENSUS_SEED,
    }
    return frame, meta


def _info(name: str, builder):
    from core.data.datasets import BUILTINS, DatasetInfo

    folder, meta = _publish_table(name, builder)
    return DatasetInfo(name, folder, meta.get("title", name), BUILTINS[name], 32, meta["task"])


def breast_cancer():
    """The built-in breast_cancer table (scikit-learn's, written on first use)."""
    return _info("breast_cancer", _sklearn_build("breast_cancer"))


def wine():
    """The built-in wine table (scikit-learn's, written on first use)."""
    return _info("wine", _sklearn_build("wine"))


def diabetes():
    """The built-in diabetes table (scikit-learn's, written on first use)."""
    return _info("diabetes", _sklearn_build("diabetes"))


def census_synth():
    """The built-in census_synth table (drawn from a fixed seed on first use)."""
    return _info("census_synth", _census_build)
