"""Files the program reads back that a person (or a damaged disk) may have altered: nested
thousands deep, integers of thousands of digits, a workspace that is not a folder. Each is read as
missing or refused with a sentence, never a RecursionError or OverflowError traceback."""

from __future__ import annotations

import pytest

from core import workspace
from core.errors import UserError

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deep_marks_file_reads_as_no_marks(fresh_workspace):
    from core.analysis import marks

    path = marks.marks_path("digits")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEEP)
    assert marks.load_marks("digits") == {}


def test_a_deep_labels_mapping_is_refused_as_damaged():
    from core.data import labels

    with pytest.raises(UserError, match="damaged"):
        labels.parse_mapping(DEEP)


def test_a_deep_dataset_json_reads_as_absent(tmp_path):
    from core.data import datasets

    (tmp_path / datasets.META_FILE).write_text(DEEP)
    assert datasets._read_meta(tmp_path) == {}


def test_a_workspace_that_is_not_a_folder_is_a_sentence(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(workspace.ENV_VAR, str(blocker / "ws"))
    with pytest.raises(UserError, match="must name a folder the playground can write"):
        workspace.root()


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["huge", "minus_huge"])
def test_table_options_with_huge_integers_are_problems_not_overflows(value):
    from core.tasks.tabular import RegressionOptions, TabularOptions

    assert any("dropout" in p for p in TabularOptions(ps=value).problems())
    assert any("Huber" in p for p in RegressionOptions(huber_delta=value).problems())
