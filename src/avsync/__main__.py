"""``python -m avsync`` is the ``avsync`` command."""

import sys

from avsync.cli import main

sys.exit(main())
