"""README's command lines are true: every `photorecon` line in its shell blocks names a real
command with options it takes (parsed by the CLI's own parser, not run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from photorecon.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", README.read_text(), re.S)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if "photorecon " in line and not line.startswith(("pip ", "make ", "source ")):
                lines.append(line)
    return lines


def argv_of(line: str) -> list[str]:
    words = shlex.split(line)
    for marker in ("photorecon", "photorecon.cli", ".venv/bin/photorecon"):
        if marker in words:
            return words[words.index(marker) + 1 :]
    raise AssertionError(f"no photorecon command in {line!r}")


def test_readme_has_commands() -> None:
    assert len(readme_commands()) > 20


@pytest.mark.parametrize("line", readme_commands())
def test_each_readme_command_parses(line: str) -> None:
    parser = build_parser()
    try:
        parser.parse_args(argv_of(line))
    except SystemExit as exc:
        pytest.fail(f"README line does not parse ({exc.code}): {line}")


def torchrun_lines() -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", README.read_text(), re.S)
    lines = [ln.split(" #", 1)[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if "torchrun " in ln]


@pytest.mark.parametrize("line", torchrun_lines())
def test_each_torchrun_line_parses_for_torchrun_and_for_photorecon(line: str) -> None:
    from torch.distributed.run import get_args_parser

    words = shlex.split(line)
    words = words[words.index("torchrun") + 1 :]
    try:
        launch = get_args_parser().parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"torchrun cannot parse README line ({exc.code}): {line}")
    assert launch.module and launch.training_script == "photorecon.cli"
    try:
        build_parser().parse_args(launch.training_script_args)
    except SystemExit as exc:
        pytest.fail(f"photorecon cannot parse README line ({exc.code}): {line}")
