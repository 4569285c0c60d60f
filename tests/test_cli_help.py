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
