"""Outputs are atomic and never replace an input or an existing result without ``--overwrite``;
an unwritable output (a folder, a read-only or full disk) is one OutputError, exit status 3."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_convert import official_state_dict

from avpet.cli import main
from avpet.errors import OutputError
from avpet.outputs import atomic_directory, atomic_file

REPO = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---- the helper -------------------------------------------------------------------------------


def test_atomic_file_writes_on_success_only(tmp_path):
    out = tmp_path / "sub" / "result.bin"
    with pytest.raises(RuntimeError), atomic_file(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not out.exists() and _leftovers(out.parent) == []
    with atomic_file(out) as tmp:
        tmp.write_bytes(b"whole")
    assert out.read_bytes() == b"whole" and _leftovers(out.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a result, not a private temporary


@pytest.mark.parametrize("kind", [atomic_file, atomic_directory])
def test_an_existing_result_needs_overwrite(tmp_path, kind):
    out = tmp_path / "result"
    if kind is atomic_file:
        out.write_bytes(b"old")
    else:
        out.mkdir()
        (out / "config.json").write_text("{}")
    with pytest.raises(OutputError, match="result: already exists; pass --overwrite"), kind(out):
        pass
    with kind(out, overwrite=True) as tmp:
        if kind is atomic_file:
            tmp.write_bytes(b"new")
        else:
            (tmp / "model.safetensors").write_bytes(b"new")
    assert (out.read_bytes() if kind is atomic_file else sorted(os.listdir(out))) in (
        b"new",
        ["model.safetensors"],
    )
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", [atomic_file, atomic_directory])
def test_of_two_concurrent_writers_exactly_one_succeeds(tmp_path, kind):
    """Both start while the output is absent; the second to finish is refused, the first's
    result is kept."""
    out = tmp_path / "result"
    first, second = kind(out), kind(out)
    tmp1, tmp2 = first.__enter__(), second.__enter__()
    for tmp, text in ((tmp1, "first"), (tmp2, "second")):
        (tmp if kind is atomic_file else tmp / "f").write_text(text)
    first.__exit__(None, None, None)
    with pytest.raises(OutputError, match="another writer"):
        second.__exit__(None, None, None)
    assert (out if kind is atomic_file else out / "f").read_text() == "first"
    assert _leftovers(tmp_path) == []


def test_an_input_is_never_an_output(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"video")
    os.symlink(video, tmp_path / "link.mp4")
    for out in (video, tmp_path / "link.mp4", tmp_path / "." / "v.mp4"):
        inputs = [str(video)]
        with pytest.raises(OutputError, match=r"is an input"), atomic_file(out, True, inputs):
            pass
    assert video.read_bytes() == b"video"


# ---- the commands -----------------------------------------------------------------------------


@pytest.fixture
def clip(data_dir) -> str:
    return str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4")


def _extract(clip: str, out: Path, *extra: str) -> list[str]:
    return ["extract", clip, "--model", "avpet_small_mid_lowrank", "--out", str(out), *extra]


@pytest.mark.parametrize(
    "case, reason",
    [
        ("input", "is an input"),
        ("file", "is a file; give a folder name"),
        ("folder", "is an input"),
    ],
)
def test_extract_refuses_an_output_it_must_not_write(tmp_path, clip, capsys, case, reason):
    """--out is a folder of results: never the video, another file, or the input folder."""
    video = tmp_path / "videos" / "v.mp4"
    video.parent.mkdir()
    shutil.copy(clip, video)
    other = tmp_path / "old.safetensors"
    other.write_bytes(b"an earlier result")
    given = str(video.parent) if case == "folder" else str(video)
    out = {"input": video, "file": other, "folder": video.parent}[case]
    before = {p: p.read_bytes() for p in (video, other)}
    assert main(_extract(given, out)) == 3
    err = capsys.readouterr().err
    assert err.startswith("avpet extract: error:") and reason in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in (video, other)} == before
    assert sorted(os.listdir(video.parent)) == ["v.mp4"]


def test_a_full_disk_during_the_write_leaves_no_partial_file(tmp_path, clip, monkeypatch, capsys):
    from avpet.features import store

    out = tmp_path / "features"

    def full(tensors, metadata=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "save", full)
    assert main(_extract(clip, out)) == 3
    assert "cannot write (No space left on device)" in capsys.readouterr().err
    assert _leftovers(tmp_path) == [] and not list(out.glob("*.safetensors"))


def _unshare_available() -> bool:
    probe = ["unshare", "-rm", "true"]
    return shutil.which("unshare") is not None and subprocess.run(probe).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _unshare_available(), reason="needs unshare -rm (user namespaces)")
@pytest.mark.parametrize(
    "mount, reason",
    [("size=16k", "No space left on device"), ("size=16k,ro", "Read-only file system")],
)
def test_extract_on_a_real_full_or_read_only_disk(tmp_path, clip, mount, reason):
    """A 16 KiB tmpfs (a GRID clip's features take 57 KB), or a read-only one, mounted in
    a private mount namespace; the command exits 3 with the reason and leaves no temporary."""
    disk = tmp_path / "disk"
    disk.mkdir()
    command = (
        f"mount -t tmpfs -o {mount} tmpfs {disk} && "
        f"{sys.executable} -m avpet extract {clip} --model avpet_small_mid_lowrank "
        f"--out {disk}/f; echo rc=$?; ls -aR {disk}"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, cwd=REPO
    )
    assert "rc=3" in done.stdout, done.stderr[-2000:]
    (message,) = [x for x in done.stderr.splitlines() if x.startswith("avpet extract: error")]
    assert "cannot " in message and reason in message
    assert "Traceback" not in done.stderr
    left = done.stdout.split("rc=3")[1].split()
    assert not [name for name in left if name.endswith((".tmp", ".safetensors"))]


def test_convert_official_keeps_an_existing_repo(tmp_path, capsys):
    checkpoint = tmp_path / "official.pyth"
    torch.save({"model_state": official_state_dict()}, checkpoint)
    out = tmp_path / "repo"
    out.mkdir()
    (out / "config.json").write_text('{"an": "existing repo"}')
    argv = ["convert-official", str(checkpoint), "--out", str(out)]
    assert main(argv) == 3
    assert "repo: already exists; pass --overwrite" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text()) == {"an": "existing repo"}
    assert main([*argv[:2], "--out", str(checkpoint), "--overwrite"]) == 3
    assert "is an input" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "model.safetensors"]
    assert _leftovers(tmp_path) == []


def test_plot_metrics_never_replaces_its_input(tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    before = metrics.read_bytes()
    assert main(["plot-metrics", str(metrics), "--out", str(metrics), "--overwrite"]) == 3
    assert "is an input" in capsys.readouterr().err and metrics.read_bytes() == before


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--limit", "0"], "limit must be >= 1 video, got 0"),
        (["--views", "-1"], "views must be >= 0, got -1"),
    ],
)
def test_pretrain_cache_bad_counts(tmp_path, clip, capsys, argv, reason):
    out = tmp_path / "c.safetensors"
    argv = ["cache", clip, "--model", "avpet_small_mid_lowrank", "--out", str(out), *argv]
    assert main(argv) == 3
    assert reason in capsys.readouterr().err and not out.exists()


def test_extract_of_a_non_utf8_file_name(tmp_path, clip, capsys):
    """Linux file names may hold any bytes: the output mirrors the name, its metadata names it
    with ``\\xNN``."""
    from avpet.features import read_features

    video = tmp_path / os.fsdecode(b"clip\xff.mp4")
    shutil.copy(clip, video)
    out = tmp_path / "f"
    assert main(_extract(str(video), out)) == 0
    (written,) = out.glob("*.safetensors")
    assert read_features(written).path == f"{tmp_path}/clip\\xff.mp4"
