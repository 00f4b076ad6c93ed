"""The arrays a process keeps (tensor_cache._MEMORY) are shared by the dashboard's sessions, which
are threads: every look at them and every change to them holds one lock, so two sessions opening
datasets together never see a key vanish between a check and a read."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

import numpy as np

from core.data import tensor_cache


class _Guarded(OrderedDict):
    """An OrderedDict that fails any use made without tensor_cache's lock held."""

    def _check(self):
        assert tensor_cache._MEMORY_LOCK.locked(), "tensor_cache._MEMORY used without its lock"

    def __contains__(self, key):
        self._check()
        return super().__contains__(key)

    def __getitem__(self, key):
        self._check()
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        self._check()
        super().__setitem__(key, value)

    def get(self, key, default=None):
        self._check()
        return super().get(key, default)

    def move_to_end(self, key, last=True):
        self._check()
        super().move_to_end(key, last)

    def popitem(self, last=True):
        self._check()
        return super().popitem(last)

    def values(self):
        self._check()
        return super().values()


def _writer(value: int):
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, np.full((4, 3), value, dtype=np.uint8))

    return write


def test_every_use_of_the_kept_arrays_holds_the_lock(fresh_workspace, monkeypatch):
    monkeypatch.setattr(tensor_cache, "_MEMORY", _Guarded())
    for i in range(tensor_cache.MEMORY_ENTRIES + 2):  # made, then evicted
        assert tensor_cache.cached_array(f"k{i}", _writer(i))[0, 0] == i
    for i in range(tensor_cache.MEMORY_ENTRIES + 2):  # from memory, or from disk again
        assert tensor_cache.cached_array(f"k{i}", _writer(99))[0, 0] == i


def test_sessions_opening_arrays_together_all_get_theirs(fresh_workspace, monkeypatch):
    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())
    keys = [f"s{i}" for i in range(tensor_cache.MEMORY_ENTRIES + 2)]  # more than are kept: evictions
    for i, key in enumerate(keys):
        tensor_cache.cached_array(key, _writer(i))
    errors: list[BaseException] = []

    def session(offset: int):
        try:
            for n in range(300):
                i = (n + offset) % len(keys)
                assert tensor_cache.cached_array(keys[i], _writer(99))[0, 0] == i
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=session, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:3]
