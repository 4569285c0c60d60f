"""``avpet --help`` and every subcommand's help: exit 0, and every option is listed with help."""

from __future__ import annotations

import argparse

import pytest

from avpet.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """``(argv prefix, parser)`` for the parser and, recursively, every subcommand."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


COMMANDS = list(_commands(build_parser()))


def test_every_subcommand_is_covered():
    names = {" ".join(argv) for argv, _ in COMMANDS}
    expected = {"", "info", "extract", "eval", "eval grid", "eval fsdd", "convert-official"}
    expected |= {"cache", "pretrain"}
    assert expected | {"plot-metrics", "push"} <= names


@pytest.mark.parametrize(
    ("argv", "parser"), COMMANDS, ids=[" ".join(argv) or "avpet" for argv, _ in COMMANDS]
)
def test_help_exits_zero_and_documents_every_option(argv, parser, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: avpet")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help and choice.dest in text, f"{argv}: {choice.dest} help"
            continue
        name = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        assert action.help, f"avpet {' '.join(argv)}: {name} has no help string"
        assert name in text, f"avpet {' '.join(argv)} --help does not mention {name}"


def test_the_top_level_help_names_every_subcommand_and_family(capsys):
    """The description is generated from the parser's commands and the registry's families, and
    each family prefix covers registered names (and every name has a family)."""
    import avpet
    from avpet.cli import FAMILIES

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in subcommands.choices:
        assert command in parser.description
    names = avpet.list_models()
    assert {n.split("_")[0] for n in names} == set(FAMILIES)
    for family in FAMILIES.values():
        assert family in parser.description


def test_avpet_list_shows_architectures_with_tags_and_suggests_close_names(capsys):
    assert main(["list", "sync"]) == 0
    assert "avpet_small_mid_lowrank  (tags:" in capsys.readouterr().out
    assert main(["list", "--pretrained", "--json"]) == 0
    import json

    import avpet

    assert json.loads(capsys.readouterr().out) == avpet.list_models(pretrained=True)
    assert main(["list", "vatt_bace"]) == 3
    assert "vatt_base" in capsys.readouterr().err
    assert main(["info", "avpet_smal_mid_lowrank"]) == 3
    assert "did you mean avpet_small_mid_lowrank" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("roi", "said"),
    [
        (["246", "150", "118", "214"], "TOP (246) must be above BOTTOM (150)"),
        (["150", "246", "214", "118"], "LEFT (214) must be left of RIGHT (118)"),
        (["150", "246", "118", "214", "5"], "give 4 numbers"),
        (["150", "246", "118"], "give 4 numbers"),
        (["150", "-246", "118", "214"], "cannot be negative"),
    ],
)
def test_roi_errors_say_what_is_wrong_with_the_value(roi, said, capsys, tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    code = main(["extract", str(video), "--model", "avpet_small_mid_lowrank", "--out",
                 str(tmp_path / "out"), "--roi", *roi])  # fmt: skip
    assert code == 3
    assert said in capsys.readouterr().err
