"""`python -m core …`: the command-line interface."""

import sys

from core.cli import main

sys.exit(main())
