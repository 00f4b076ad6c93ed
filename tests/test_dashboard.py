"""AppTest: the dashboard renders from the store without importing fastai."""

from __future__ import annotations

import subprocess
import sys

from core.jobs.store import DONE, Store
from tests.apptest import APP, ROOT, open_app


def _seed_finished_run(accuracy: float) -> int:
    store = Store()
    job_id = store.submit("train", {"config": {"dataset": "digits", "arch": "mnist_cnn"}})
    store.claim_next(pid=1)
    store.finish(job_id, DONE, result={"run_id": job_id, "accuracy": accuracy, "seconds": 3.2})
    return job_id


def test_home_lists_builtin_datasets_and_a_finished_run(fresh_workspace):
    run_id = _seed_finished_run(0.9777)
    at = open_app()
    assert at.title[0].value == "fastai playground"
    datasets_table = at.table[0].value
    assert {"digits", "digits_flip10"} <= set(datasets_table.index)
    runs = at.table[1].value
    row = runs.loc[run_id]
    assert row["state"] == "DONE"
    assert row["metric"] == "accuracy" and abs(row["value"] - 0.9777) < 1e-9


def test_home_without_runs_says_how_to_make_one(fresh_workspace):
    at = open_app()
    assert any("No runs yet" in i.value for i in at.info)


def test_first_render_does_not_import_fastai(fresh_workspace):
    code = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"AppTest.from_file({APP!r}, default_timeout=30).run(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastai', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
