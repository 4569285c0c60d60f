"""``python -m avpet.pretrain``: the command ``avpet pretrain`` (:mod:`avpet.pretrain.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
