"""``python -m avpet``: the ``avpet`` command."""

import sys

from .cli import main

sys.exit(main())
