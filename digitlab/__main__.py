"""``python -m digitlab ...``: the ``digitlab`` command where it is not installed (a machine without pip access)."""

import sys

from digitlab.cli import main

sys.exit(main())
