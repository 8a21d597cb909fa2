"""``python -m tiledeblur``: the ``tiledeblur`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
