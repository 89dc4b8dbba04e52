import sys

from avsync.cli import main

sys.exit(main())
