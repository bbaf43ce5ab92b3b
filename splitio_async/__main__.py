"""``python -m splitio_async``: see ``splitio_async/cli.py``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
