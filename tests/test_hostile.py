"""The hostile corpus: at least 100 crafted inputs, generated here, each refused with a message
(or accepted as documented) without a traceback, a hang, or anything left behind.

Each case runs in a forked child with a 30 s guard (tests/hostile.py); the memory bound (300 MB
above the child's start) is asserted, the 5 s CPU target is reported by `python -m bench.hostile`
because CI machines are shared and noisy.
"""

from __future__ import annotations

import pytest

from tests import hostile

CASES = hostile.all_cases()


def test_the_corpus_has_at_least_a_hundred_inputs():
    assert len(CASES) >= 100, f"only {len(CASES)} hostile cases"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, tmp_path):
    outcome = hostile.run_case(case, tmp_path)
    assert not outcome.problems(case), outcome.problems(case)
    assert outcome.extra_mb <= hostile.MEMORY_TARGET_MB, f"{outcome.extra_mb:.0f} MB"
