"""``python -m transferkit``: the command line (:func:`transferkit.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
