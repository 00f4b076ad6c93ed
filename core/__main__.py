"""`python -m core …`: the command-line interface."""

import os
import sys

# Idle OpenMP threads sleep instead of spinning, so training shares two cores gracefully
# with the dashboard and other processes. It must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from core.cli import main  # noqa: E402

sys.exit(main())
