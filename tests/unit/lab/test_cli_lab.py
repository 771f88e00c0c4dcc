"""`netdiag lab` argument handling that needs no root: offsets, names, the privilege message."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from netdiag.cli import lab as lab_cli
from netdiag.cli._env import Env
from netdiag.errors import InputError, PrivilegeError


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netdiag")
    lab_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kube-ovn-worker=+3ms", ("kube-ovn-worker", 3_000_000)),
        ("client=-1.5us", ("client", -1500)),
        ("n=2s", ("n", 2_000_000_000)),
    ],
)
def test_clock_offsets_parse_with_units(text: str, expected: tuple[str, int]) -> None:
    assert lab_cli.parse_offset(text) == expected


@pytest.mark.parametrize("text", ["kube-ovn-worker=3", "=3ms", "worker:3ms", "w=3 hours"])
def test_bad_clock_offsets_say_how_to_write_them(text: str) -> None:
    with pytest.raises(InputError, match="NODE=OFFSET"):
        lab_cli.parse_offset(text)


@pytest.mark.parametrize("action", ["up", "down", "status"])
def test_non_root_gets_a_privilege_error(action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    env = Env(io.StringIO(), io.StringIO())
    with pytest.raises(PrivilegeError, match="needs root"):
        lab_cli.run(_parse(["lab", action]), env)


def test_bad_name_is_an_input_error_before_anything_runs() -> None:
    env = Env(io.StringIO(), io.StringIO())
    with pytest.raises(InputError, match="lab name"):
        lab_cli.run(_parse(["lab", "up", "--name", "Bad-Name"]), env)


def test_main_prints_one_line_and_exits_with_privilege(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("netdiag.cli.packets", reason="the full CLI needs every command module")
    from netdiag.cli import ExitCode, main

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    out, err = io.StringIO(), io.StringIO()
    assert main(["lab", "status"], Env(out, err)) == ExitCode.PRIVILEGE
    assert err.getvalue().count("\n") == 1
    assert "needs root" in err.getvalue()
    assert out.getvalue() == ""


def test_missing_tools_are_named_with_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from netdiag.errors import LabError
    from netdiag.lab import system

    monkeypatch.setattr(system.shutil, "which", lambda tool: None if tool == "bridge" else tool)
    with pytest.raises(LabError, match=r"bridge \(iproute2\)"):
        system.require_tools()


def test_lab_up_never_rewrites_a_default_inventory_that_says_something_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdiag import lab
    from netdiag.lab.inventory import inventory_text

    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    committed = inventory_text(lab.default_spec("netdiag", "10.250.0.0/24"))
    (tmp_path / "inventory" / "lab.yaml").write_text(committed)
    args = _parse(["lab", "up"])
    args.name = "netdiag"
    same = lab.default_spec("netdiag", "10.250.0.0/24")
    assert lab_cli._inventory_targets(args, same, False) == (("inventory/lab.yaml",), [])
    other = lab.default_spec("netdiag", "10.247.0.0/24")  # another management network
    assert lab_cli._inventory_targets(args, other, False) == ((), ["inventory/lab.yaml"])
    skewed = same.with_clock_offsets({"kube-ovn-worker": 3_000_000})
    assert lab_cli._inventory_targets(args, skewed, False) == ((), ["inventory/lab.yaml"])
    # an explicit --inventory is written as asked; a lab of another name writes none here
    args.inventory = "mine.yaml"
    assert lab_cli._inventory_targets(args, other, False) == (("mine.yaml",), [])
    args.inventory, args.name = None, "cu"
    cu = lab.default_spec("cu", "10.247.0.0/24")
    assert lab_cli._inventory_targets(args, cu, False) == ((), [])
    assert lab_cli._inventory_targets(args, cu, True) == ((), [])
    assert not (tmp_path / "inventory" / "lab-cu.yaml").exists()
    assert (tmp_path / "inventory" / "lab.yaml").read_text() == committed
