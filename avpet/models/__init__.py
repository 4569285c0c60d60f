"""Model families; importing this package registers them all, and the tag ``official`` of every
model whose authors released weights (the table in :mod:`avpet.convert.cards`)."""

from dataclasses import replace

from ..convert.cards import LICENSE_IDS, OFFICIAL
from ..registry import get_pretrained_cfg, register_pretrained
from . import avbert, mmv, mmv_official, vatt  # noqa: F401

for _name, _source in OFFICIAL.items():
    register_pretrained(
        _name,
        replace(
            get_pretrained_cfg(_name),
            tag="official",
            license=LICENSE_IDS[_source.family],
            official=_source,
            description=f"{_name} with the authors' released weights, converted on first use",
        ),
    )
