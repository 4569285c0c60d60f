"""Every command of README.md and docs/*.md runs as written from a fresh clone.

Each page's fenced ``bash`` blocks run line by line (a ``\\`` continuation joins lines) in one
shell per page, in a copy of the repository next to the shared data, with a test Hub at
``HF_ENDPOINT``; its ``python`` blocks run as scripts. A command that takes hours runs with
``SHORTER``'s additions (the same command on a few clips, a few steps). A command that cannot run
here is in ``NOT_RUN`` with the reason; a command in neither list runs as written, so a new command
in the docs is tested by default. docs/walkthrough.md has its own test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, copy_tracked, docs_env
from hub_server import HubServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + [
    p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "walkthrough.md"
]

# pattern in a command or python block -> why it is not run here
NOT_RUN = {
    r"^pip install": "an install: .ci/run installs the README's way in a fresh venv, "
    "tools/ci_oldest.sh installs the wheel",
    r"avbert_(checkpoint|official)\.pyth": "the official AVBERT checkpoint is not reachable from "
    "here; tests/test_convert.py converts a state_dict with its exact names and shapes",
    r"ckpt-500000\.index": "the official VATT checkpoint is not reachable from here; "
    "tests/test_convert_vatt.py converts records of the official modules",
    r"mmv_(s3d|tsm_resnet_x[12])\.pkl": "the official MMV checkpoints are not reachable from "
    "here; tests/test_convert_mmv.py converts pickles written by the official code",
    r'create_model\("vatt_bbs", pretrained=True\)': "downloads the authors' VATT checkpoint "
    "(2.4 GB) from Google Cloud Storage, not reachable from here; tests/test_official_fetch.py "
    "makes the same call on checkpoints the official code wrote, served at the official paths",
    r"--nnodes 2": "needs two machines",
    r"olah": "olah lives in its own venv: tests/test_hub_mirror.py runs this mirror",
    r"\b(NAME\.TAG|DIR|ROOT)\b|my\.mp4": "a template (capitals are the reader's values); "
    "tests/test_examples.py and the commands around it run the same code on real clips",
    r"hf-hub:org/repo|/path/|eval_json_metrics": "a template of every source form or argument; "
    "tests/test_hub.py loads each form from a test Hub",
    r"benchmarks/grid_baselines\.py": "all 883 GRID clips and 3000 FSDD recordings (many "
    "minutes); `avpet eval grid --baseline` runs the same code in this test",
    r"^python -m pytest": "the test suite itself",
}

PRETRAIN_FEW_STEPS = (
    " train.max_steps=2 optim.warmup_steps=0 train.batch_size=2 train.log_every=1"
    " train.ckpt_every=2 train.device=cpu train.precision=fp32 data.num_workers=0"
)
# the same command, smaller: (pattern, text appended before any redirection)
APPEND = [
    (r"-m avpet\.pretrain(\s|$)", PRETRAIN_FEW_STEPS),
    (r"^avpet pretrain(\s|$)", PRETRAIN_FEW_STEPS),
    (r"-m avpet\.pretrain\.cache |^avpet cache ", " --limit 8"),
    (r"^avpet eval grid .*--(data|train)", " --limit 10 --probe-c 1.0"),
    (r"^avpet eval fsdd ", " --per-digit 1 --probe-c 1.0"),
    (r"^avpet eval sync ", " --limit 4"),
    (r"experiments/sync_pretrain\.py ", " --steps 2 --eval-every 1 --limit 4"),
    (r"benchmarks/bench_sync\.py ", " --clips 2 --long 1"),
]
FEWER_PROCESSES = (r"--nproc_per_node (8|N)\b", "--nproc_per_node 2")


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def commands(page: Path) -> list[str]:
    """The commands of a page's bash blocks: continuations joined, comments dropped, ``a && b``
    as two commands."""
    lines = []
    for block in fenced(page.read_text(), "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
            if line.strip() and not line.lstrip().startswith("#"):
                lines += [" ".join(part.split()) for part in line.split(" && ")]
    return lines


def why_not_run(text: str) -> str | None:
    return next((why for pattern, why in NOT_RUN.items() if re.search(pattern, text, re.M)), None)


def as_run(command: str) -> str:
    """``command`` made smaller (APPEND, FEWER_PROCESSES); additions go before a redirection."""
    body, redirect = re.match(r"(.*?)(\s*>\s*\S+)?$", command).groups()
    for pattern, extra in APPEND:
        if re.search(pattern, body):
            body += extra
    return re.sub(*FEWER_PROCESSES, body) + (redirect or "")


def test_most_commands_run():
    """What is not run is the exception: installs, templates, what needs absent hardware/data."""
    skipped = [(p.name, c) for p in PAGES for c in commands(p) if why_not_run(c)]
    run = [c for p in PAGES for c in commands(p) if not why_not_run(c)]
    assert len(run) > len(skipped), (len(run), skipped)
    assert as_run("avpet eval fsdd --data d --json > out.json") == (
        "avpet eval fsdd --data d --json --per-digit 1 --probe-c 1.0 > out.json"
    )


WITH_COMMANDS = [p for p in PAGES if commands(p) or fenced(p.read_text(), "python")]


@pytest.mark.slow
@pytest.mark.parametrize("page", WITH_COMMANDS, ids=[p.name for p in WITH_COMMANDS])
def test_page_commands_run_as_written(page, fresh_clone, tmp_path):
    runnable = [as_run(c) for c in commands(page) if not why_not_run(c)]
    scripts = fenced(page.read_text(), "python")
    env = docs_env(tmp_path / "hf_home")
    with HubServer() as hub:
        env["HF_ENDPOINT"], env["HF_TOKEN"] = hub.url, "hf_local_stand_in"
        for command in runnable:
            done = subprocess.run(
                ["bash", "-c", f"set -eo pipefail\n{command}"],
                cwd=fresh_clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, f"{page.name}: {command}\n{done.stderr[-3000:]}"
        for number, script in enumerate(scripts):
            if why_not_run(script):
                continue
            done = subprocess.run(
                [sys.executable, "-c", script],
                cwd=fresh_clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, (
                f"{page.name} python block {number}:\n{done.stderr[-3000:]}"
            )


def test_a_fresh_clone_holds_what_git_tracks_not_what_a_users_runs_left(tmp_path):
    """The README's first command writes ``features/`` into the clone; a later docs test must
    not find it (``--out features/`` would then be an existing output): only tracked files are
    copied, staged new ones included."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    (repo / "README.md").write_text("tracked\n")
    (repo / "staged.md").write_text("new, added\n")
    (repo / "features").mkdir()
    (repo / "features" / "x.safetensors").write_text("a user's output\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    subprocess.run([*git, "add", "staged.md"], check=True)
    clone = copy_tracked(repo, tmp_path / "clone")
    assert sorted(p.name for p in clone.rglob("*")) == ["README.md", "staged.md"]


def test_ci_runs_both_readme_commands_in_order_in_one_clone():
    """``.ci/run`` takes the README's first and second commands (whatever they say) and runs
    them one after the other in one fresh clone."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert "git clone" in script and "readme_command 1" in script and "readme_command 2" in script
    first, second = script.index('bash -c "$first_cmd"'), script.index('bash -c "$test_cmd"')
    assert script.index('cd "$work/avpet"') < first < second
