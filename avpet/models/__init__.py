"""Model families; importing this package registers them all."""

from . import avbert, mmv, mmv_official, vatt  # noqa: F401
