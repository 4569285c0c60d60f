"""Model families; importing this package registers them all."""

from . import avbert  # noqa: F401
