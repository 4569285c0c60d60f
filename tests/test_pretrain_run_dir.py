"""A run folder holds one run: a fresh run never replaces an earlier one silently, two runs never
share a folder, a SIGKILLed run's lock and temporaries do not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from avpet.errors import OutputError
from avpet.pretrain import run_dir


def _claim(out, **kwargs) -> None:
    with run_dir.claim(out, **kwargs):
        pass


def _earlier_run(out) -> None:
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step_00000150.pt").write_bytes(b"old checkpoint")
    (out / "metrics.jsonl").write_text('{"step": 150}\n')


def test_a_fresh_run_into_an_earlier_run_is_refused(tmp_path):
    _earlier_run(tmp_path)
    with pytest.raises(OutputError, match="earlier run .*--resume.*--overwrite"):
        _claim(tmp_path, fresh=True)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 150}\n'
    with run_dir.claim(tmp_path, fresh=False):  # --resume continues it
        pass
    with run_dir.claim(tmp_path, fresh=True, overwrite=True):
        assert sorted(os.listdir(tmp_path)) == [".lock"]


def test_overwrite_deletes_only_a_run_folder(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not a run folder .*will not delete"):
        _claim(tmp_path, fresh=True, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("kind", ["file", "fresh folder", "empty folder"])
def test_out_dir_kinds(tmp_path, kind):
    out = tmp_path / "run"
    if kind == "file":
        out.write_text("x")
        with pytest.raises(OutputError, match="run: is a file; train.out_dir must be a folder"):
            _claim(out, fresh=True)
        return
    if kind == "empty folder":
        out.mkdir()
    with run_dir.claim(out, fresh=True):
        assert (out / ".lock").read_text() == f"{os.getpid()}\n"


def test_a_second_run_is_refused_and_a_killed_runs_lock_is_stale(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from avpet.pretrain import run_dir\n"
            f"with run_dir.claim({str(tmp_path)!r}, fresh=True):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=f"in use by another run \\(pid {holder.pid}\\)"):
            _claim(tmp_path, fresh=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".lock").read_text() == f"{holder.pid}\n"  # left behind by the kill
    started = time.monotonic()
    with run_dir.claim(tmp_path, fresh=False):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    assert time.monotonic() - started < 5


def test_two_claims_in_one_process_conflict_too(tmp_path):
    with run_dir.claim(tmp_path, fresh=True), pytest.raises(OutputError, match="in use by"):
        _claim(tmp_path, fresh=False)


def test_temporaries_of_a_killed_write_are_removed_at_the_next_start(tmp_path):
    _earlier_run(tmp_path)
    left = [
        tmp_path / "checkpoints" / ".step_00000151.pt.3f9a1c2b7d4e.tmp",
        tmp_path / ".config.json.0123456789ab.tmp",
        tmp_path / ".metrics.jsonl.0123456789ab.tmp",
    ]
    for path in left:
        path.write_bytes(b"\0" * 1000)
    (tmp_path / ".final.abcdefabcdef.tmp").mkdir()
    (tmp_path / ".final.abcdefabcdef.tmp" / "model.safetensors").write_bytes(b"half")
    with run_dir.claim(tmp_path, fresh=False):
        names = sorted(os.listdir(tmp_path)) + sorted(os.listdir(tmp_path / "checkpoints"))
    assert names == [".lock", "checkpoints", "metrics.jsonl", "step_00000150.pt"]
