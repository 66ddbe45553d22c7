"""``python -m tlkit``: the same program as the ``tlkit`` command."""

import sys

from tlkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
