"""Search at scale: a million synthetic clip embeddings, exact search against the approximate one.

The rows are drawn around 20,000 random centres (a clip's neighbours in a real collection are the
other clips of its video and of similar scenes, so real embeddings cluster; uniform noise on the
sphere would be the worst case of any inverted file, reported with ``--uniform``). Queries are
held-out points of the same distribution. Prints one JSON object: build time, resident memory,
per-query latency of exact search (torch) and of the faiss inverted file, and the recall@10 of the
approximate answers against the exact ones.

    python benchmarks/bench_search.py --rows 1000000 --dim 256
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from avpet.search.index import build_ivf, exact_search


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


def rss_mb() -> float:
    """This process's resident memory now (Linux ``/proc``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256, help="the published grid_s1 joint width")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--uniform", action="store_true")
    args = parser.parse_args()

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
                "data": "uniform" if args.uniform else "clustered (20,000 centres)",
                "ivf_lists": index.nlist,
                "build_s": round(build_s, 1),
                "rows_mb": round(rows.nbytes / 2**20),
                "index_mb": round(index_mb),
                "exact_ms_per_query": round(exact_ms, 2),
                "ivf": {
                    n: {k: round(float(v), 4) for k, v in r.items()} for n, r in approximate.items()
                },
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
