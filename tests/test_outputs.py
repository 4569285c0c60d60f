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

from avpet import extract
from avpet.cli import main
from avpet.errors import OutputError
from avpet.outputs import atomic_directory, atomic_file
from avpet.pretrain.cache import main as cache_main

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
        ("directory", "is a directory; give a file name"),
        ("existing", "already exists; pass --overwrite"),
    ],
)
def test_extract_refuses_an_output_it_must_not_write(tmp_path, clip, capsys, case, reason):
    video = tmp_path / "v.mp4"
    shutil.copy(clip, video)
    out = {"input": video, "directory": tmp_path, "existing": tmp_path / "old.safetensors"}[case]
    if case == "existing":
        out.write_bytes(b"an earlier result")
    before = out.read_bytes() if out.is_file() else None
    assert main(_extract(str(video), out)) == 3
    err = capsys.readouterr().err
    assert err.startswith("avpet extract: error:") and reason in err and "Traceback" not in err
    assert (out.read_bytes() if out.is_file() else None) == before


def test_two_extracts_on_one_out_do_not_both_succeed(tmp_path, clip, monkeypatch, capsys):
    """The other extract finishes while this one computes, or while it writes: this one is
    refused, the other's result kept."""
    out = tmp_path / "f.safetensors"
    compute, save = extract.extract_features, extract.save_file

    def compute_then_other(*args, **kwargs):
        result = compute(*args, **kwargs)
        out.write_bytes(b"the other extract's result")
        return result

    def save_then_other(*args, **kwargs):
        save(*args, **kwargs)
        out.write_bytes(b"the other extract's result")

    for target, function, reason in (
        ("extract_features", compute_then_other, "already exists"),
        ("save_file", save_then_other, "was created by another writer meanwhile"),
    ):
        out.unlink(missing_ok=True)
        with monkeypatch.context() as patch:
            patch.setattr(extract, target, function)
            assert main(_extract(clip, out)) == 3
        assert reason in capsys.readouterr().err
        assert out.read_bytes() == b"the other extract's result" and _leftovers(tmp_path) == []


def test_a_full_disk_during_the_write_leaves_nothing(tmp_path, clip, monkeypatch, capsys):
    out = tmp_path / "f.safetensors"

    def full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(extract, "save_file", full)
    assert main(_extract(clip, out)) == 3
    assert "f.safetensors: cannot write (No space left on device)" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


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
        f"--out {disk}/f.safetensors; echo rc=$?; ls -a {disk}"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, cwd=REPO
    )
    assert "rc=3" in done.stdout, done.stderr[-2000:]
    message = done.stderr.strip().splitlines()[-1]
    assert "f.safetensors: cannot write (" in message and reason in message
    assert "Traceback" not in done.stderr
    assert done.stdout.split("rc=3")[1].split() == [".", ".."]  # nothing left on the disk


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
    assert cache_main([clip, "--model", "avpet_small_mid_lowrank", "--out", str(out), *argv]) == 3
    assert reason in capsys.readouterr().err and not out.exists()


def test_extract_of_a_non_utf8_file_name(tmp_path, clip, capsys):
    """Linux file names may hold any bytes; the output's keys name it with ``\\xNN``."""
    from safetensors import safe_open

    video = tmp_path / os.fsdecode(b"clip\xff.mp4")
    shutil.copy(clip, video)
    out = tmp_path / "f.safetensors"
    assert main(_extract(str(video), out)) == 0
    with safe_open(str(out), "pt") as f:
        keys, videos = set(f.keys()), json.loads(f.metadata()["videos"])
    assert f"{tmp_path}/clip\\xff.mp4/visual_bos" in keys
    assert videos == [f"{tmp_path}/clip\\xff.mp4"]
