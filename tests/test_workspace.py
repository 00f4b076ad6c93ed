"""The workspace folder and the path-safety helper that keeps user paths inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import workspace
from core.errors import PathEscapeError, UserError


@pytest.fixture
def base(tmp_path) -> Path:
    folder = tmp_path / "base"
    (folder / "datasets" / "digits").mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    "parts",
    [
        ("..",),
        ("../outside",),
        ("datasets", "..", "..", "outside"),
        ("datasets/../../outside",),
        ("a/b/../../../c",),
    ],
)
def test_safe_join_refuses_dotdot_that_climbs_out(base, parts):
    with pytest.raises(PathEscapeError, match="would leave"):
        workspace.safe_join(base, *parts)


def test_safe_join_allows_dotdot_that_stays_inside(base):
    assert workspace.safe_join(base, "datasets/../models") == base.resolve() / "models"


@pytest.mark.parametrize("part", ["/etc/passwd", "/", "//server/share"])
def test_safe_join_refuses_absolute_paths(base, part):
    with pytest.raises(PathEscapeError, match="absolute"):
        workspace.safe_join(base, part)


def test_safe_join_refuses_absolute_path_in_a_later_part(base):
    with pytest.raises(PathEscapeError, match="absolute"):
        workspace.safe_join(base, "datasets", "/tmp")


def test_safe_join_refuses_absolute_path_that_points_inside(base):
    # Even an absolute path that lands inside base is refused: only names are allowed.
    with pytest.raises(PathEscapeError, match="absolute"):
        workspace.safe_join(base, str(base / "datasets"))


@pytest.mark.parametrize("part", ["a\x00b", "\x00", "datasets/\x00../.."])
def test_safe_join_refuses_nul_bytes(base, part):
    with pytest.raises(PathEscapeError, match="NUL"):
        workspace.safe_join(base, part)


def test_safe_join_refuses_symlink_that_points_outside(base, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key.txt").write_text("x")
    (base / "datasets" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscapeError, match="would leave"):
        workspace.safe_join(base, "datasets", "link")
    with pytest.raises(PathEscapeError, match="would leave"):
        workspace.safe_join(base, "datasets/link/key.txt")


def test_safe_join_refuses_symlinked_file_that_points_outside(base, tmp_path):
    target = tmp_path / "passwd"
    target.write_text("root")
    (base / "datasets" / "digits" / "0.png").symlink_to(target)
    with pytest.raises(PathEscapeError):
        workspace.safe_join(base, "datasets", "digits", "0.png")


def test_safe_join_follows_a_symlink_that_stays_inside(base):
    (base / "alias").symlink_to(base / "datasets", target_is_directory=True)
    assert workspace.safe_join(base, "alias", "digits") == base.resolve() / "datasets" / "digits"


def test_safe_join_accepts_nested_names(base):
    got = workspace.safe_join(base, "datasets", "digits", "train/3/0001.png")
    assert got == base.resolve() / "datasets" / "digits" / "train" / "3" / "0001.png"
    # A path that does not exist yet is fine: it is where a new file will go.
    assert not got.exists()


def test_safe_join_accepts_path_objects_and_odd_but_harmless_names(base):
    got = workspace.safe_join(base, Path("datasets"), "my digits (v2)", "..hidden", "ä.png")
    assert got == base.resolve() / "datasets" / "my digits (v2)" / "..hidden" / "ä.png"


def test_safe_join_with_no_parts_gives_base(base):
    assert workspace.safe_join(base) == base.resolve()
    assert workspace.safe_join(base, ".") == base.resolve()


def test_path_escape_is_a_user_error(base):
    # The dashboard shows UserError messages as they are, so escapes must be one.
    with pytest.raises(UserError):
        workspace.safe_join(base, "../x")


def test_root_follows_the_environment_variable(tmp_path, monkeypatch):
    first = tmp_path / "one" / "ws"
    monkeypatch.setenv(workspace.ENV_VAR, str(first))
    assert workspace.root() == first.resolve()
    assert first.is_dir()  # created on first use
    assert workspace.db_path() == first.resolve() / "runs.sqlite"

    second = tmp_path / "two"
    monkeypatch.setenv(workspace.ENV_VAR, str(second))
    assert workspace.root() == second.resolve()
    cache = workspace.subdir("cache")
    assert cache == second.resolve() / "cache"
    assert cache.is_dir()
    assert not (first / "cache").exists()


def test_root_defaults_to_the_checkout_workspace(monkeypatch, tmp_path):
    monkeypatch.delenv(workspace.ENV_VAR, raising=False)
    # Only compute the path: avoid creating ./workspace in the checkout from a test.
    monkeypatch.setattr(workspace, "PROJECT_ROOT", tmp_path)
    assert workspace.root() == (tmp_path / "workspace").resolve()


def test_session_workspace_is_not_the_checkout(session_workspace):
    assert workspace.root() == session_workspace.resolve()
    assert workspace.root() != (workspace.PROJECT_ROOT / "workspace").resolve()


def test_subdir_refuses_names_that_leave_the_workspace(fresh_workspace):
    with pytest.raises(PathEscapeError):
        workspace.subdir("../elsewhere")
    assert not (fresh_workspace.parent / "elsewhere").exists()


def test_inside(fresh_workspace, tmp_path):
    assert workspace.inside(fresh_workspace / "datasets" / "x.png")
    assert workspace.inside(fresh_workspace)
    assert not workspace.inside(tmp_path / "other")
    link = fresh_workspace / "out"
    os.symlink(tmp_path, link)
    assert not workspace.inside(link / "file")
