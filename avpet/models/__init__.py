"""Model families; importing this package registers them all."""

from . import avbert, mmv, vatt  # noqa: F401
