"""ADULT_SAMPLE and ML_SAMPLE: downloaded from a loopback server serving archives generated here in
fastai's real layouts, checked like every download, and turned into our table layout."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from core import workspace
from core.data import catalogue, datasets, download, tables
from core.errors import UserError
from core.jobs.store import DONE
from core.jobs.worker import run_job
from tests.inputs import tar_bytes, tree
from tests.test_download import Server, md5_head
from tests.test_download_tasks import Recording

ADULT_HEADER = (
    "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,"
    "capital-gain,capital-loss,hours-per-week,native-country,salary"
)
WORK = [" Private", " Self-emp-inc", " State-gov", " ?"]
EDUCATION = [(" Assoc-acdm", "12.0"), (" Masters", "14.0"), (" HS-grad", ""), (" Bachelors", "13.0")]


def adult_csv(n: int = 40) -> str:
    """adult.csv as fastai ships it: UCI's values after ", ", some cells empty, salary >=50k/<50k."""
    rng = np.random.default_rng(0)
    rows = [ADULT_HEADER]
    for i in range(n):
        edu, num = EDUCATION[i % 4]
        occupation = "" if i % 7 == 0 else " Exec-managerial" if i % 2 else " Craft-repair"
        rows.append(
            f"{20 + i},{WORK[i % 4]},{rng.integers(20_000, 400_000)},{edu},{num}, Married-civ-spouse,"
            f"{occupation},{'Wife' if i % 3 else ' Husband'}, White, Female,0,0,{30 + i % 20},"
            f" United-States,{'>=50k' if i % 3 == 0 else '<50k'}"
        )
    return "\n".join(rows) + "\n"


def ratings_csv(n_users: int = 15, n_items: int = 10) -> str:
    rows = ["userId,movieId,rating,timestamp"]
    rows += [
        f"{73 + u},{1097 + 11 * i},{((u * 7 + i * 3) % 10 + 1) / 2},{1255504951 + u * 10 + i}"
        for u in range(n_users)
        for i in range(n_items)
        if (u + i) % 4
    ]
    return "\n".join(rows) + "\n"


ADULT = tar_bytes(
    {
        "adult_sample/adult.csv": adult_csv().encode(),
        "adult_sample/export.pkl": b"\x80\x04 not ours to unpickle",
    }
)
MOVIES = tar_bytes({"movie_lens_sample/ratings.csv": ratings_csv().encode()})


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def serve(server, monkeypatch, key: str, archive: bytes) -> None:
    entry = catalogue.CATALOGUE[key]
    server.files[f"/fast-ai-sample/{entry.archive_name}"] = archive
    monkeypatch.setitem(
        catalogue.CATALOGUE, key, dataclasses.replace(entry, size=len(archive), md5_head=md5_head(archive))
    )


@pytest.fixture
def served(server, monkeypatch, fresh_workspace):
    """The two table entries, their size and checksum those of the archives served here."""
    serve(server, monkeypatch, "ADULT_SAMPLE", ADULT)
    serve(server, monkeypatch, "ML_SAMPLE", MOVIES)
    monkeypatch.setenv(catalogue.MIRROR_VAR, server.url)
    monkeypatch.setattr(download, "REPORT_EVERY", 0.0)
    monkeypatch.setattr(download, "CHUNK", 4096)
    return server


def test_the_table_entries_are_fastais_own():
    """URL, size and first-MiB MD5 as fastai's download_checks.py records them (read, not imported)."""
    spec = importlib.util.find_spec("fastai")
    checks = ast.literal_eval(
        (Path(spec.submodule_search_locations[0]) / "data" / "download_checks.py").read_text()
    )
    for key, task, name in (
        ("ADULT_SAMPLE", "tabular_classification", "adult_sample"),
        ("ML_SAMPLE", "collaborative", "movie_lens_sample"),
    ):
        entry = catalogue.CATALOGUE[key]
        assert (entry.size, entry.md5_head) == checks[entry.url]
        assert entry.task == task and entry.name == name == entry.archive_name.removesuffix(".tgz")
        assert entry.layout in catalogue.TABLE_LAYOUTS


def test_adult_is_downloaded_with_progress_as_a_table_with_the_course_roles(served):
    store = Recording(workspace.db_path())
    job_id = store.submit("download", {"key": "ADULT_SAMPLE"})
    assert run_job(store, store.claim_next(pid=1)) == DONE
    result = store.get(job_id).result
    assert result["dataset"] == "adult_sample" and result["task"] == "tabular_classification"
    assert result["summary"] == "Added adult_sample: 40 rows of 15 columns (tabular_classification)."
    assert any(m.startswith("downloading") for _, m in store.reports)
    path = workspace.subdir("datasets") / "adult_sample"
    assert sorted(p.name for p in path.iterdir()) == ["dataset.json", "table.csv"]  # no export.pkl
    info = datasets.resolve("adult_sample")
    assert info.task == "tabular_classification" and info.title == "Adult census (a table)"
    meta = datasets.metadata(info)
    assert meta["roles"] == {
        "target": "salary",
        "cat": ["workclass", "education", "marital-status", "occupation", "relationship", "race"],
        "cont": ["age", "fnlwgt", "education-num"],
    }
    assert meta["catalogue_key"] == "ADULT_SAMPLE" and meta["split"]["kind"] == "random"
    items = tables.read_table(path)
    assert items.vocab == ["<50k", ">=50k"]
    # UCI's space after each comma is gone: " Private" is Private; empty cells stay missing
    assert sorted(items.frame["workclass"].unique()) == ["?", "Private", "Self-emp-inc", "State-gov"]
    assert items.frame["relationship"].tolist()[:2] == ["Husband", "Wife"]
    assert items.frame["occupation"].isna().sum() == 6
    assert (
        items.frame["education-num"].dtype == np.float64 and items.frame["education-num"].isna().sum() == 10
    )
    assert (path / "table.csv").read_text().splitlines()[1].startswith("20,Private,")
    assert (workspace.root() / "downloads" / "adult_sample.tgz").read_bytes() == ADULT  # the cache


def test_movielens_sample_becomes_ratings_and_rebuilds_from_the_cache(served, monkeypatch):
    result = download.install("ML_SAMPLE")
    assert result["task"] == "collaborative" and result["rows"] == len(ratings_csv().splitlines()) - 1
    path = workspace.subdir("datasets") / "movie_lens_sample"
    items = tables.read_ratings(path)
    assert items.roles == tables.RatingRoles("userId", "movieId", "rating")
    assert items.frame["userId"].iloc[0] == "73" and items.frame["rating"].dtype == np.float64
    assert list(items.frame.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert datasets.resolve("movie_lens_sample").task == "collaborative"
    assert download.install("ML_SAMPLE") == {"dataset": "movie_lens_sample", "already": True}
    gets = len([r for r in served.requests if r[0] == "GET"])
    shutil.rmtree(path)
    monkeypatch.setenv(download.OFFLINE_VAR, "1")  # offline: the cached archive is enough
    again = download.install("ML_SAMPLE")
    assert again["from_cache"] is True and again["dataset"] == "movie_lens_sample"
    assert len([r for r in served.requests if r[0] == "GET"]) == gets


@pytest.mark.parametrize(
    "archive, match",
    [
        (
            tar_bytes({"adult_sample/other.csv": b"a,b\n1,2\n"}),
            "adult_sample.tgz holds no adult_sample/adult.csv",
        ),
        (
            tar_bytes({"adult_sample/adult.csv": (adult_csv() + "1,2,3\n").encode()}),
            r"adult_sample/adult.csv, line 42, has 3 cell\(s\) but the header names 15 columns",
        ),
        (
            tar_bytes({"adult_sample/adult.csv": adult_csv().replace(">=50k", "<50k").encode()}),
            "The target 'salary' holds one value only",
        ),
        (
            tar_bytes({"adult_sample/adult.csv": adult_csv().replace("\n20,", "\ntwenty,").encode()}),
            "The continuous column 'age' holds text such as 'twenty'",
        ),
        (b"this is not an archive at all", "adult_sample.tgz is not a zip or tar archive"),
    ],
)
def test_an_adult_archive_that_is_not_the_real_layout_adds_nothing(served, monkeypatch, archive, match):
    serve(served, monkeypatch, "ADULT_SAMPLE", archive)
    before = tree(workspace.subdir("datasets"))
    with pytest.raises(UserError, match=match):
        download.install("ADULT_SAMPLE")
    assert tree(workspace.subdir("datasets")) == before  # no dataset, no temporary folder
    assert "adult_sample" not in datasets.available()


def test_an_archive_other_than_fastais_is_refused_before_it_is_read(served, fresh_workspace):
    served.files["/fast-ai-sample/movie_lens_sample.tgz"] = MOVIES[:-10] + b"0123456789"
    with pytest.raises(UserError, match="is not the file fastai's catalogue records"):
        download.install("ML_SAMPLE")
    assert not any("movie_lens_sample" in p for p in tree(fresh_workspace))


def test_an_archive_written_with_leading_dot_slashes_is_read_the_same(served, monkeypatch):
    archive = tar_bytes({"./adult_sample/adult.csv": adult_csv(12).encode()})
    serve(served, monkeypatch, "ADULT_SAMPLE", archive)
    assert download.install("ADULT_SAMPLE")["rows"] == 12
    assert datasets.resolve("adult_sample").task == "tabular_classification"
