"""Cross-modal retrieval among N pairs: item i of one modality matches item i of the other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from ..outputs import atomic_file


def similarity(queries: Tensor, gallery: Tensor) -> Tensor:
    """Cosine similarity ``[N, M]`` of ``queries [N, D]`` and ``gallery [M, D]``, each set first
    centred on its own mean (a constant offset shared by all embeddings of one modality says
    nothing about which items match)."""
    q = queries.double() - queries.double().mean(0)
    g = gallery.double() - gallery.double().mean(0)
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return q @ g.T


def recall_at_k(scores: Tensor, ks: Sequence[int]) -> dict[int, float]:
    """Fraction of queries whose match (the diagonal of ``scores [N, N]``) ranks in the top k.

    Ties count against the query: the rank is the number of gallery items scoring at least as
    high as the match, minus one.
    """
    positive = scores.diagonal().unsqueeze(1)
    rank = (scores >= positive).sum(1) - 1
    return {k: float((rank < k).double().mean()) for k in ks}


def retrieval_metrics(audio: Tensor, visual: Tensor) -> dict[str, float]:
    """``a2v_r1``, ``a2v_r5`` (audio queries, video gallery) and ``v2a_r1`` of paired
    ``audio [N, D]`` and ``visual [N, D]`` embeddings."""
    scores = similarity(audio, visual)
    a2v = recall_at_k(scores, (1, 5))
    v2a = recall_at_k(scores.T, (1,))
    return {"a2v_r1": a2v[1], "a2v_r5": a2v[5], "v2a_r1": v2a[1]}


def plot_similarity(scores: Tensor, path: Path, overwrite: bool = False) -> None:
    """Write ``scores [N, N]`` (audio rows, video columns) as a PNG at ``path``, atomically and
    not over an existing file unless ``overwrite`` (needs the ``plot`` extra)."""
    from ..plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(scores.numpy(), cmap="viridis")
    ax.set_xlabel("video clip")
    ax.set_ylabel("audio clip")
    ax.set_title("test audio-video cosine similarity")
    fig.colorbar(image, ax=ax)
    with atomic_file(path, overwrite) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
