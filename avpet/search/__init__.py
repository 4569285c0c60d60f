"""Find the clips of a collection that a sound or a picture belongs to (``avpet index`` /
``avpet search``): :mod:`.index` holds the clip embeddings and searches them."""

from .index import ClipIndex, Hit

__all__ = ["ClipIndex", "Hit"]
