"""`python -m bench.hostile`: run the hostile corpus and print its figures (CPU, memory, results).

The same cases as tests/test_hostile.py, each in a forked child with a fresh workspace.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import hostile  # noqa: E402


def main() -> int:
    """Run every case and print the report; non-zero when a case fails."""
    cases = hostile.all_cases()
    outcomes, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            outcome = hostile.run_case(case, Path(tmp) / str(i))
            outcomes.append(outcome)
            if outcome.problems(case):
                failed.append((case.name, outcome.problems(case)))
    print(hostile.report(outcomes))
    for name, problems in failed:
        print(f"FAIL {name}: {problems}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
