"""Video shards on real GRID videos: ``avpet shard`` packs the original bytes (bad files skipped
and listed), ``ShardDataset`` decodes them exactly as the files, deals disjoint shards to ranks and
workers in a seeded order, resumes mid-epoch, reads https:// and s3:// stores on 127.0.0.1
(a stdlib server, moto's S3 server), refuses URLs that would run something, and names a shard it
cannot reach."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import free_port

from avpet.cli import main
from avpet.data import load_sample, resolve_data_config
from avpet.data.shards import INDEX_NAME, ShardDataset, is_shard_set, read_shard_set
from avpet.data.transforms import create_transform
from avpet.errors import ConfigError, MediaError

MODEL = "avpet_small_mid_lowrank"


@pytest.fixture(scope="module")
def videos(data_dir, tmp_path_factory) -> Path:
    """Five real GRID videos and a text file named like a video, in one folder."""
    folder = tmp_path_factory.mktemp("videos")
    for video in sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:5]:
        shutil.copy(video, folder / video.name)
    (folder / "broken.mp4").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def shards(videos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "grid"
    assert main(["shard", str(videos), "--out", str(out), "--max-count", "2"]) == 0
    return out


def _dataset(location: str, **kwargs) -> ShardDataset:
    cfg = resolve_data_config(MODEL)
    return ShardDataset(read_shard_set(location), cfg, **kwargs)


def test_shard_packs_the_original_bytes_lists_bad_files_and_keeps_what_exists(
    videos, shards, capsys
):
    index = json.loads((shards / INDEX_NAME).read_text())
    assert index["__kind__"] == "wids-shard-index-v1"  # WebDataset's own index format
    assert [s["nsamples"] for s in index["shardlist"]] == [2, 2, 1]
    assert [s["url"] for s in index["shardlist"]] == [f"shard-00000{i}.tar" for i in range(3)]
    skipped = index["avpet"]["skipped"]
    assert [Path(s["path"]).name for s in skipped] == ["broken.mp4"]
    assert "not a readable media file" in skipped[0]["reason"]
    names = []
    for entry in index["shardlist"]:
        assert entry["filesize"] == (shards / entry["url"]).stat().st_size
        with tarfile.open(shards / entry["url"]) as tar:
            members = tar.getnames()
            for name in members[::2]:
                meta = json.loads(tar.extractfile(name).read())
                media = tar.extractfile(name.replace(".json", ".mp4")).read()
                assert media == (videos / meta["name"]).read_bytes()
                assert meta["has_audio"] and meta["width"] == 360
                names.append(meta["name"])
    assert names == sorted(p.name for p in videos.glob("*.mp4") if p.name != "broken.mp4")

    capsys.readouterr()
    assert main(["shard", str(videos), "--out", str(shards)]) == 3
    assert "already exists" in capsys.readouterr().err
    assert json.loads((shards / INDEX_NAME).read_text()) == index


def test_a_shard_sample_is_the_file_sample_bitwise(videos, shards):
    dataset = _dataset(str(shards))  # evaluation transform: uniform clip starts
    transform = create_transform(resolve_data_config(MODEL), is_training=False)
    seen = []
    for sample in dataset:
        name = sample["path"].rsplit("#", 1)[1]
        expected = load_sample(videos / name, transform)
        for key in ("visual", "audio", "starts"):
            assert torch.equal(sample[key], expected[key]), key
        seen.append(name)
    assert sorted(seen) == sorted(p.name for p in videos.glob("*.mp4") if p.name != "broken.mp4")


def test_ranks_and_workers_get_disjoint_shards_in_a_seeded_order(shards):
    dataset = _dataset(str(shards), seed=3)
    dataset.configure(rank=0, world_size=1, num_workers=3, batch_size=1)
    epoch0, epoch1 = dataset.assignment(0), dataset.assignment(1)
    for deal in (epoch0, epoch1):
        flat = [i for slot in deal for i in slot]
        assert sorted(flat) == [0, 1, 2]  # every shard once, one per worker
    again = _dataset(str(shards), seed=3)
    again.configure(rank=0, world_size=1, num_workers=3, batch_size=1)
    assert again.assignment(0) == epoch0
    orders = {tuple(map(tuple, dataset.assignment(e))) for e in range(6)}
    assert len(orders) > 1  # reshuffled per epoch
    with pytest.raises(ConfigError, match="3 shards for 2 ranks x 2 workers"):
        dataset.configure(rank=0, world_size=2, num_workers=2, batch_size=1)


def test_an_epoch_resumed_part_way_continues_with_the_same_samples(shards):
    dataset = _dataset(str(shards), is_training=True, seed=1, buffer=3)
    dataset.configure(rank=0, world_size=1, num_workers=0, batch_size=2)
    dataset.set_position(epoch=1, batch=0, taken=None)
    full = list(dataset)
    assert [s["stream_pos"] for s in full] == [1, 2, 3, 4]
    dataset.set_position(epoch=1, batch=1, taken=[2])
    tail = list(dataset)
    assert len(tail) == 2
    for a, b in zip(full[2:], tail, strict=True):
        assert a["path"] == b["path"] and torch.equal(a["visual"], b["visual"])
        assert torch.equal(a["audio"], b["audio"])  # augmentations seeded per sample too


def _items(location: str) -> list[dict]:
    """Every raw sample of every shard (bytes, before decoding)."""
    dataset = _dataset(location)
    return [item for url in dataset.shards.urls for item in dataset._read_shard(url)]


def _strip(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "__url__"} for item in items]


def test_https_and_s3_stores_serve_the_same_samples(shards, tmp_path, monkeypatch):
    local = _strip(_items(str(shards)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shards.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/grid"
        assert is_shard_set(url)
        assert _strip(_items(url)) == local
        assert _strip(_items(f"{url}/{INDEX_NAME}")) == local
    finally:
        server.shutdown()

    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for key, value in {
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        import s3fs

        _wait_for_port(port)
        store = s3fs.S3FileSystem(skip_instance_cache=True)
        store.mkdir("videos")
        store.put(str(shards), "videos/grid", recursive=True)
        items = _items("s3://videos/grid")
        assert _strip(items) == local
        assert items[0]["__url__"] == "s3://videos/grid/shard-000000.tar"
    finally:
        moto.terminate()
        moto.wait(timeout=30)


def _wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@pytest.mark.parametrize(
    "location",
    ["pipe:cat shards.json", "concat:a.json|b.json", "ftp://host/shards", "file:shards.json"],
)
def test_locations_that_are_not_files_or_stores_are_refused(location):
    with pytest.raises(ConfigError, match="not a shard location"):
        read_shard_set(location)
    with pytest.raises(ConfigError, match="nothing is executed"):
        is_shard_set(location)


@pytest.mark.parametrize(
    "entry", ["pipe:cat x.tar", "../elsewhere.tar", "/etc/x.tar", "http://host/x.tar", "x.tgz"]
)
def test_an_index_may_only_name_tar_files_beside_it(tmp_path, entry):
    index = {"shardlist": [{"url": entry, "nsamples": 1}]}
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="not a .tar file name beside the index"):
        read_shard_set(str(tmp_path))


def test_an_unreachable_shard_is_named_then_skipped_or_stops_the_run(shards, tmp_path, caplog):
    broken = tmp_path / "grid"
    shutil.copytree(shards, broken)
    os.remove(broken / "shard-000001.tar")
    dataset = _dataset(str(broken), on_error="raise")
    with pytest.raises(MediaError, match="shard-000001.tar: cannot read the shard"):
        list(dataset)

    with caplog.at_level(logging.WARNING):
        samples = list(_dataset(str(broken), on_error="skip"))
    assert len(samples) == 5  # the quota, filled by going round the readable shards again
    assert "skipping unreadable shard" in caplog.text and "shard-000001.tar" in caplog.text
    assert not any("shard-000001.tar" in s["path"] for s in samples)


def test_an_existing_local_folder_is_local_whatever_its_name(shards, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(shards, tmp_path / "pipe:grid")
    assert is_shard_set("pipe:grid")
    assert read_shard_set("pipe:grid").urls[0] == os.path.join("pipe:grid", "shard-000000.tar")
    assert _strip(_items("pipe:grid")) == _strip(_items(str(shards)))


def test_a_tar_of_something_else_is_named_not_decoded(tmp_path):
    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        path = tmp_path / "000.txt"
        path.write_text("hello")
        tar.add(path, arcname="000.txt")
    index = {"shardlist": [{"url": "other.tar", "nsamples": 1}]}
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(MediaError, match=r"other\.tar#000: not an avpet shard sample"):
        list(_dataset(str(tmp_path)))
