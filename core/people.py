"""People and the class: who is signed in, which space is theirs, and what a teacher may do.

Alone on a laptop there is no class file and nothing here changes anything: no sign-in, one
space (the workspace itself). A teacher who shares the dashboard writes a class file (TOML,
named by PLAYGROUND_CLASS) such as:

    shared = true                      # sign-in required; each person works in their own space
    teachers = ["teacher@school.org"]  # identities that see every run, publish, stop any job
    max_jobs = 3                       # queued or running jobs per person (fair share)
    import_root = "/srv/class-data"    # the only server folder "Import a folder" may read
    identity = "oidc"                  # st.login (OpenID Connect), or "header" behind a proxy
    header = "X-Forwarded-Email"       # identity = "header": the header the proxy sets ...
    trusted_proxies = ["127.0.0.1"]    # ... the only addresses allowed to set it, and the proxy
                                       # must also send [playground] proxy_secret (secrets.toml)
    admins = ["root"]                  # server accounts whose CLI may act as anyone (--as)

The person is a context variable like the current space (core.workspace): the dashboard sets
both at the top of every script run, the CLI once, the worker for each job.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core import fsutil, safejson, workspace
from core.errors import UserError

CONFIG_ENV = "PLAYGROUND_CLASS"
IDENTITIES = ("oidc", "header")
_KEYS = {
    "shared",
    "teachers",
    "max_jobs",
    "import_root",
    "identity",
    "header",
    "trusted_proxies",
    "admins",
}


@dataclass(frozen=True)
class ClassConfig:
    """The class file's settings; the default (no file) is one person on a laptop."""

    shared: bool = False
    teachers: frozenset[str] = frozenset()
    max_jobs: int | None = None  # None: no limit
    import_root: Path | None = None
    identity: str = "oidc"
    header: str = "X-Forwarded-Email"
    trusted_proxies: tuple[str, ...] = ()
    admins: frozenset[str] = frozenset({"root"})
    source: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Person:
    """Someone signed in: their identity (an e-mail or subject), their space, their role."""

    identity: str
    space: str
    teacher: bool = False


_cache: dict[tuple[str, float], ClassConfig] = {}
_UNSET = object()
_PERSON: contextvars.ContextVar[object] = contextvars.ContextVar("playground_person", default=_UNSET)


def config() -> ClassConfig:
    """The class settings from $PLAYGROUND_CLASS (re-read when the file changes), or the laptop
    default when it is unset. A file that cannot be read or holds unknown keys is refused."""
    name = os.environ.get(CONFIG_ENV, "").strip()
    if not name:
        return ClassConfig()
    path = Path(name).expanduser()
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as e:
        raise UserError(f"{CONFIG_ENV}={name} cannot be read ({e.strerror or e}).") from e
    if key not in _cache:
        _cache.clear()
        _cache[key] = _parse(path)
    return _cache[key]


def _parse(path: Path) -> ClassConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"The class file {path} cannot be read: {e}.") from e
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise UserError(f"The class file {path} has unknown settings: {', '.join(unknown)}.")
    identity = data.get("identity", "oidc")
    if identity not in IDENTITIES:
        raise UserError(f"identity in {path} must be one of {', '.join(IDENTITIES)}, not {identity!r}.")
    max_jobs = data.get("max_jobs")
    if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1):
        raise UserError(f"max_jobs in {path} must be a whole number of at least 1.")
    root = data.get("import_root")
    return ClassConfig(
        shared=bool(data.get("shared", False)),
        teachers=frozenset(str(t).strip().lower() for t in data.get("teachers", [])),
        max_jobs=max_jobs,
        import_root=Path(root).expanduser().resolve() if root else None,
        identity=identity,
        header=str(data.get("header", "X-Forwarded-Email")),
        trusted_proxies=tuple(str(a) for a in data.get("trusted_proxies", [])),
        admins=frozenset(str(a) for a in data.get("admins", ["root"])),
        source=path,
    )


def shared() -> bool:
    """True when the dashboard is shared: sign-in on, one space per person."""
    return config().shared


def space_name(identity: str) -> str:
    """The folder name of a person's space: a readable slug of the identity and a short hash of
    it, so two identities never share a space and no identity can name a path."""
    text = identity.strip().lower()
    if not text:
        raise UserError("An empty identity has no space.")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40] or "person"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]  # 128 bits: no made-up collision
    return f"{slug}-{digest}"


def person_for(identity: str) -> Person:
    """The Person an identity is, with their space and whether the class file names them a teacher."""
    text = identity.strip().lower()
    return Person(identity=text, space=space_name(text), teacher=text in config().teachers)


def current() -> Person | None:
    """The person the current context acts for (None alone on a laptop, or in the worker): the one
    entered in this context, else the one workspace.RESOLVERS["person"] gives (the dashboard's
    browser session, for widget callbacks that run before app.py)."""
    person = _PERSON.get()
    if person is _UNSET:
        resolve = workspace.RESOLVERS.get("person")
        person = resolve() if resolve is not None else None  # type: ignore[operator]
    return person if isinstance(person, Person) else None


def is_teacher() -> bool:
    """True when the current person is a teacher (always False alone on a laptop)."""
    person = current()
    return bool(person and person.teacher)


def enter(person: Person | None) -> None:
    """Act as person for the rest of this context: their space becomes the current one (a
    dashboard script run calls this at its top; None is the laptop's one space)."""
    _PERSON.set(person)
    workspace.set_space(person.space if person else workspace.DEFAULT_SPACE)


PERSON_FILE = "person.json"  # in a person's space: who it belongs to (what a teacher is shown)


def remember(person: Person) -> None:
    """Write who a space belongs to into it, unless it says so already (so a teacher reads names,
    not space folders); the dashboard calls it when someone signs in, not on every run."""
    path = workspace.Space(person.space).root / PERSON_FILE
    if not path.exists():
        fsutil.atomic_write(path, json.dumps({"identity": person.identity}) + "\n")


def identity_of(space: str) -> str:
    """The identity a space belongs to ("this machine" for the laptop's space; the space's own
    name when it never recorded one)."""
    if not space:
        return "this machine"
    try:
        path = workspace.Space(space).root / PERSON_FILE
        return str(safejson.loads(path.read_text(encoding="utf-8"))["identity"])
    except (OSError, UserError, KeyError, TypeError, ValueError):
        return space


@contextlib.contextmanager
def acting_as(person: Person | None) -> Iterator[None]:
    """Act as person (and in their space) for the `with` block."""
    token = _PERSON.set(person)
    try:
        with workspace.use_space(person.space if person else workspace.DEFAULT_SPACE):
            yield
    finally:
        _PERSON.reset(token)
