"""AppTest: the dashboard renders from the store without importing fastai."""

from __future__ import annotations

import re
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


# Emoji need an emoji font; Streamlit's Material icons ship with Streamlit. Pictographs, dingbats,
# the clock and media-control symbols, and the emoji variation selector.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b05-\u2b55\u231a\u231b\u23e9-\u23fa\ufe0f]")


def test_pages_show_no_emoji_only_material_icons():
    from streamlit.material_icon_names import ALL_MATERIAL_ICONS

    from dashboard.widgets import STATE_ICONS

    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in ("dashboard", "pages", "assets/text")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if EMOJI.search(line)
    ]
    assert found == []
    for icon in STATE_ICONS.values():  # each run state has an icon Streamlit knows
        (name,) = re.findall(r":material/([a-z0-9_]+):", icon)
        assert name in ALL_MATERIAL_ICONS


def test_the_server_config_offers_no_deploy_and_skips_the_gc_after_each_rerun():
    """`make run` and the browser tests start streamlit in the project root, so it reads this file."""
    code = (
        "from streamlit import config; config.get_config_options(force_reparse=True); "
        "print(config.get_option('client.toolbarMode'), config.get_option('runner.postScriptGC'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["viewer", "False"]
