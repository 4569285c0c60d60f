"""Search at scale: a million clip embeddings, exact search against the approximate one.

With ``--real INDEX`` (a folder written by ``avpet index``) the rows have the distribution of that
index's real embeddings: each is one of its visual rows plus noise drawn with the covariance of
those rows (``--noise`` times it), and the queries are its audio rows expanded the same way, as a
sound searches pictures. Otherwise the rows are drawn around 20,000 random centres (a clip's
neighbours in a real collection are the other clips of its video and of similar scenes, so real
embeddings cluster; uniform noise on the sphere would be the worst case of any inverted file,
reported with ``--uniform``), and queries are held-out points of the same distribution. Prints
one JSON object: build time, resident memory, per-query latency of exact search (torch) and of
the faiss inverted file, the recall@10 of the approximate answers against the exact ones, and
exact search with all queries in one batch, in float32 and bfloat16 (its recall@10 against
float32). With ``--span-clips K``, also the latency of a query of ``K`` clips through
:func:`avpet.search.spans.find_spans` with exact candidates (the rows as videos of 50 clips), and
how often such a query cut from a video finds its own span at top 1.

    python benchmarks/bench_search.py --rows 1000000 --dim 256
    python benchmarks/bench_search.py --rows 1000000 --real runs/search_index
    python benchmarks/bench_search.py --rows 200000 --span-clips 10
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from avpet.search.index import ClipIndex, build_ivf, exact_search
from avpet.search.spans import find_spans

CLIPS_PER_VIDEO = 50


def synthetic(rows: int, dim: int, centres: int, uniform: bool, seed: int) -> np.ndarray:
    """``rows`` unit vectors ``[rows, dim]``: noise around random centres (or uniform)."""
    rng = np.random.default_rng(seed)
    if uniform:
        x = rng.standard_normal((rows, dim), dtype=np.float32)
    else:
        means = rng.standard_normal((centres, dim), dtype=np.float32)
        x = means[rng.integers(0, centres, rows)]
        x += 0.5 * rng.standard_normal((rows, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def expanded(index_dir: Path, rows: int, queries: int, noise: float, seed: int):
    """``rows`` visual and ``queries`` audio unit vectors with the distribution of the index's
    real rows: a random real row plus ``noise`` times a draw with their covariance."""
    real = ClipIndex.load(index_dir).embeddings
    rng = np.random.default_rng(seed)

    def grow(source: np.ndarray, count: int) -> np.ndarray:
        centred = source - source.mean(0)
        out = np.empty((count, source.shape[1]), np.float32)
        for begin in range(0, count, 20_000):
            n = min(20_000, count - begin)
            mix = rng.standard_normal((n, len(source)), dtype=np.float32) / np.sqrt(len(source))
            x = source[rng.integers(0, len(source), n)] + noise * (mix @ centred)
            out[begin : begin + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    return grow(real["visual"], rows), grow(real["audio"], queries)


def batched_exact(rows: np.ndarray, queries: np.ndarray, dtype) -> tuple[float, np.ndarray]:
    """Per-query ms of exact top-10 with every query in one batch, in ``dtype``; the rows."""
    import torch

    table = torch.from_numpy(rows).to(dtype)
    q = torch.from_numpy(queries).to(dtype)
    began = time.perf_counter()
    found = []
    for begin in range(0, len(table), 65536):
        scores = (q @ table[begin : begin + 65536].T).float()
        values, where = scores.topk(10, dim=1)
        found.append((values, where + begin))
    values = torch.cat([v for v, _ in found], 1)
    where = torch.cat([w for _, w in found], 1)
    best = where.gather(1, values.topk(10, dim=1).indices)
    return (time.perf_counter() - began) / len(queries) * 1000, best.numpy()


def rss_mb() -> float:
    """This process's resident memory now (Linux ``/proc``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def as_videos(rows: np.ndarray) -> ClipIndex:
    """``rows`` as an index of videos of :data:`CLIPS_PER_VIDEO` clips, 0.32 s apart, each row
    both a visual and an audio clip, searched exactly whatever the count."""
    n, dim = rows.shape
    index = ClipIndex("synthetic", "joint", dim, stride=0.32, exact_limit=n)
    index.video_ids = np.arange(n) // CLIPS_PER_VIDEO
    index.videos = [f"video{v}.mp4" for v in range(int(index.video_ids[-1]) + 1)]
    index.starts = (np.arange(n) % CLIPS_PER_VIDEO) * 0.32
    index.ends = index.starts + 0.64
    index.embeddings = {"visual": rows, "audio": rows}
    return index


def span_queries(rows: np.ndarray, clips: int, count: int) -> dict:
    """Per-query latency of :func:`find_spans` for ``count`` queries of ``clips`` rows cut from
    random videos, and the fraction whose top hit is their own span."""
    index, rng = as_videos(rows), np.random.default_rng(1)
    found, began = 0, time.perf_counter()
    for video in rng.integers(0, len(index.videos), count):
        offset = int(rng.integers(0, CLIPS_PER_VIDEO - clips + 1))
        first = int(video) * CLIPS_PER_VIDEO + offset
        hit = find_spans(index, rows[first : first + clips], "audio", top=1)[0]
        found += (hit.video, round(hit.start / 0.32)) == (index.videos[video], offset)
    return {
        "clips": clips,
        "ms_per_query": round((time.perf_counter() - began) / count * 1000, 2),
        "own_span_at_top_1": found / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256, help="the published grid_s1 joint width")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--uniform", action="store_true")
    parser.add_argument("--span-clips", type=int, help="also time queries of this many clips")
    parser.add_argument("--real", type=Path, metavar="INDEX", help="expand this index's rows")
    parser.add_argument("--noise", type=float, default=0.3, help="noise scale with --real")
    args = parser.parse_args()

    if args.real:
        rows, queries = expanded(args.real, args.rows, args.queries, args.noise, seed=0)
        args.dim = rows.shape[1]
    else:
        data = synthetic(args.rows + args.queries, args.dim, 20_000, args.uniform, seed=0)
        rows, queries = data[: args.rows], data[args.rows :]
    base = rss_mb()
    start = time.perf_counter()
    index = build_ivf(rows, args.nprobe[0])
    build_s = time.perf_counter() - start
    index_mb = rss_mb() - base

    def per_query(search) -> tuple[float, np.ndarray]:
        found, began = [], time.perf_counter()
        for q in queries:  # one query at a time, as a user asks
            found.append(search(q[None]))
        return (time.perf_counter() - began) / len(queries) * 1000, np.concatenate(found)

    exact_ms, exact_rows = per_query(lambda q: exact_search(rows, q, 10)[1])
    import torch

    batched = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        ms, found = batched_exact(rows, queries, dtype)
        hits = [len(set(a) & set(b)) / 10 for a, b in zip(exact_rows, found, strict=True)]
        batched[name] = {"ms_per_query": round(ms, 3), "recall_at_10": round(np.mean(hits), 4)}
    approximate = {}
    for nprobe in args.nprobe:
        index.nprobe = nprobe
        ivf_ms, ivf_rows = per_query(lambda q: index.search(q, 10)[1])
        hits = [len(set(a) & set(b)) / 10 for a, b in zip(exact_rows, ivf_rows, strict=True)]
        approximate[nprobe] = {"ms_per_query": round(ivf_ms, 2), "recall_at_10": np.mean(hits)}
    print(
        json.dumps(
            {
                "rows": args.rows,
                "dim": args.dim,
                "data": (
                    f"{args.real} expanded (noise {args.noise})"
                    if args.real
                    else "uniform"
                    if args.uniform
                    else "clustered (20,000 centres)"
                ),
                "ivf_lists": index.nlist,
                "build_s": round(build_s, 1),
                "rows_mb": round(rows.nbytes / 2**20),
                "index_mb": round(index_mb),
                "exact_ms_per_query": round(exact_ms, 2),
                "exact_batched": {"queries": len(queries), **batched},
                "ivf": {
                    n: {k: round(float(v), 4) for k, v in r.items()} for n, r in approximate.items()
                },
                "spans": span_queries(rows, args.span_clips, 20) if args.span_clips else None,
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
