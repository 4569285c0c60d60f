"""``avpet.data.sources``: files, folders, globs and manifests → media files with output names."""

from __future__ import annotations

import pytest

from avpet.data.sources import check_distinct_names, find_media
from avpet.errors import ConfigError


@pytest.fixture
def tree(tmp_path):
    """``root/a/x.mp4``, ``root/a/b/y.mov``, ``root/a/notes.md``, ``root/c/x.mp4``."""
    for name in ("a/x.mp4", "a/b/y.mov", "a/notes.md", "c/x.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def names(sources):
    return [s.name for s in sources]


def test_folder_recursive_by_extension_named_relative_to_it(tree):
    assert names(find_media(tree / "a")) == ["b/y.mov", "x.mp4"]


def test_a_name_depends_only_on_its_own_path_and_a_clash_is_refused(tree):
    """The issue's case: a file keeps its name whatever else is passed beside it."""
    alone = names(find_media([tree / "a" / "x.mp4"]))
    assert alone == names(find_media([tree / "a" / "x.mp4", tree / "a" / "b" / "y.mov"]))[:1]
    assert alone == ["x.mp4"]
    assert names(find_media([tree / "a", tree / "c" / "x.mp4"]))[:2] == ["b/y.mov", "x.mp4"]
    both = find_media([tree / "a", tree / "c"])  # two folders, each with an x.mp4
    assert len({s.path for s in both}) == 3
    with pytest.raises(ConfigError, match="would both be written as x.mp4"):
        check_distinct_names(both)
    check_distinct_names(find_media(tree))  # their common folder: a/x.mp4, c/x.mp4


def test_glob_and_duplicates_read_once(tree):
    found = find_media([str(tree / "**" / "*.mp4"), tree / "a" / "x.mp4"])
    assert names(found) == ["a/x.mp4", "c/x.mp4"]  # relative to the glob's folder, tree
    assert names(find_media(str(tree / "a" / "*.mp4"))) == ["x.mp4"]


def test_manifests(tree):
    (tree / "list.txt").write_text("# videos\na/x.mp4\n\nc/x.mp4\n")
    assert names(find_media(tree / "list.txt")) == ["a/x.mp4", "c/x.mp4"]
    (tree / "list.csv").write_text(f"label,path\n1,{tree / 'a' / 'b' / 'y.mov'}\n2,c/x.mp4\n")
    assert names(find_media(tree / "list.csv")) == ["a/b/y.mov", "c/x.mp4"]
    (tree / "bad.csv").write_text("file\nx.mp4\n")
    with pytest.raises(ConfigError, match="'path' column"):
        find_media(tree / "bad.csv")


def test_nothing_found_is_a_config_error_a_missing_file_is_kept(tree):
    with pytest.raises(ConfigError, match="matches no file"):
        find_media(str(tree / "nothing*"))
    (tree / "empty").mkdir()
    with pytest.raises(ConfigError, match="no media files"):
        find_media(tree / "empty")
    assert names(find_media(tree / "gone.mp4")) == ["gone.mp4"]
