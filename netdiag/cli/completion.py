"""``netdiag completion bash|zsh|fish``: the shell completion script, generated from the parser.

The script is static: commands, options, the choices of options that have them, and file
names for everything else. Completing never starts Python, so it stays instant however heavy
netdiag's imports are. Install it once::

    netdiag completion bash > ~/.local/share/bash-completion/completions/netdiag
    netdiag completion zsh > "${fpath[1]}/_netdiag"
    netdiag completion fish > ~/.config/fish/completions/netdiag.fish
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import Any

from netdiag.cli._env import Env, ExitCode

SHELLS = ("bash", "zsh", "fish")


def register(subparsers: Any) -> None:
    """Add the ``completion`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        description="Print a completion script for SHELL on stdout.",
        epilog="examples:\n"
        "  netdiag completion bash > ~/.local/share/bash-completion/completions/netdiag\n"
        '  netdiag completion zsh > "${fpath[1]}/_netdiag"   # then: compinit\n'
        "  netdiag completion fish > ~/.config/fish/completions/netdiag.fish\n",
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.cli import build_parser

    tree = command_tree(build_parser())
    env.stdout.write({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](tree))
    return ExitCode.OK


@dataclass
class Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()


@dataclass
class Command:
    """One command or sub-command: its options, and its sub-commands if it has any."""

    path: tuple[str, ...]
    help: str = ""
    options: list[Option] = field(default_factory=list)
    children: dict[str, Command] = field(default_factory=dict)
    #: choices of its first positional (``completion SHELL``); files otherwise
    positional_choices: tuple[str, ...] = ()


def command_tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Command:
    """The parser as data: what a completion script needs, nothing else."""
    node = Command(path)
    helps: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                helps[choice.dest] = choice.help or ""
            for name, child in action.choices.items():
                sub = command_tree(child, (*path, name))
                sub.help = helps.get(name, "")
                node.children[name] = sub
        elif action.option_strings:
            if action.help == argparse.SUPPRESS:
                continue
            choices = tuple(str(c) for c in action.choices or ())
            node.options.append(
                Option(tuple(action.option_strings), action.help or "", action.nargs != 0, choices)
            )
        elif action.choices and not node.positional_choices:
            node.positional_choices = tuple(str(c) for c in action.choices)
    return node


def _walk(node: Command) -> list[Command]:
    return [node, *(c for child in node.children.values() for c in _walk(child))]


def _first_line(text: str) -> str:
    text = text.replace("%%", "%").split("\n")[0]
    return text if len(text) <= 70 else text[:69] + "…"


# -- bash ---------------------------------------------------------------------------------------


def bash(tree: Command) -> str:
    cases = []
    for node in _walk(tree):
        key = " ".join(node.path)
        words = [*node.children, *(f for o in node.options for f in o.flags)]
        valued = [f for o in node.options if o.takes_value and not o.choices for f in o.flags]
        choice_cases = "".join(
            f"            {'|'.join(o.flags)}) COMPREPLY=($(compgen -W "
            f'{shlex.quote(" ".join(o.choices))} -- "$cur")); return;;\n'
            for o in node.options
            if o.choices
        )
        fixed = node.positional_choices or tuple(node.children)
        positional = (
            f'COMPREPLY=($(compgen -W {shlex.quote(" ".join(fixed))} -- "$cur"))'
            if fixed
            else 'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null'
        )
        cases.append(
            f"    {shlex.quote(key)})\n"
            f'        case "$prev" in\n{choice_cases}'
            f"            {'|'.join(valued) or '--never-an-option--'}) "
            'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return;;\n'
            "        esac\n"
            f'        if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W '
            f'{shlex.quote(" ".join(words))} -- "$cur")); else {positional}; fi;;\n'
        )
    return f"""# bash completion for netdiag (generated by `netdiag completion bash`)
_netdiag() {{
    local cur prev path="" word i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    # The command path: the words before the cursor that name a (sub-)command.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        [[ "$word" == -* ]] && continue
        case " $(_netdiag_children "$path") " in
            *" $word "*) path="${{path:+$path }}$word";;
        esac
    done
    case "$path" in
{"".join(cases)}    esac
}}
_netdiag_children() {{
    case "$1" in
{_bash_children(tree)}    esac
}}
complete -F _netdiag netdiag
"""


def _bash_children(tree: Command) -> str:
    return "".join(
        f"        {shlex.quote(' '.join(n.path))}) echo {shlex.quote(' '.join(n.children))};;\n"
        for n in _walk(tree)
        if n.children
    )


# -- zsh ----------------------------------------------------------------------------------------


def _zsh_quote(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("'", "'\\''")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace(":", "\\:")
    )


def _zsh_specs(node: Command) -> list[str]:
    specs = []
    for o in node.options:
        helptext = _zsh_quote(_first_line(o.help))
        if o.takes_value:
            action = f"({' '.join(o.choices)})" if o.choices else "_files"
            value = f":value:{action}"
        else:
            value = ""
        if len(o.flags) > 1:
            group = " ".join(o.flags)
            specs.append(f"'({group})'{{{','.join(o.flags)}}}'[{helptext}]{value}'")
        else:
            specs.append(f"'{o.flags[0]}[{helptext}]{value}'")
    return specs


def _zsh_function(node: Command) -> str:
    name = "_netdiag" + "".join(f"_{p.replace('-', '_')}" for p in node.path)
    specs = _zsh_specs(node)
    if node.children:
        described = " ".join(
            "'" + _zsh_quote(c) + ":" + _zsh_quote(_first_line(n.help)) + "'"
            for c, n in node.children.items()
        )
        dispatch = "\n".join(
            f"        ({c}) {name}_{c.replace('-', '_')} ;;" for c in node.children
        )
        return f"""{name}() {{
    local curcontext="$curcontext" state line
    typeset -A opt_args
    _arguments -C {" ".join(specs)} '1: :->cmd' '*:: :->args'
    case $state in
    (cmd)
        local -a commands
        commands=({described})
        _describe -t commands 'netdiag command' commands ;;
    (args)
        case $line[1] in
{dispatch}
        esac ;;
    esac
}}
"""
    if node.positional_choices:
        rest = f"'1:{_zsh_quote(node.path[-1])}:({' '.join(node.positional_choices)})'"
    else:
        rest = "'*:file:_files'"
    return f"{name}() {{\n    _arguments {' '.join([*specs, rest])}\n}}\n"


def zsh(tree: Command) -> str:
    functions = "\n".join(_zsh_function(n) for n in _walk(tree))
    return f"""#compdef netdiag
# zsh completion for netdiag (generated by `netdiag completion zsh`)

{functions}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _netdiag "$@"
else
    compdef _netdiag netdiag
fi
"""


# -- fish ---------------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_condition(path: tuple[str, ...], parent: Command) -> str:
    if not path:
        return "__fish_use_subcommand"
    seen = "; and ".join(f"__fish_seen_subcommand_from {p}" for p in path)
    if parent.children:
        kids = " ".join(parent.children)
        return f"{seen}; and not __fish_seen_subcommand_from {kids}"
    return seen


def fish(tree: Command) -> str:
    lines = [
        "# fish completion for netdiag (generated by `netdiag completion fish`)",
        "complete -c netdiag -f",
    ]
    for node in _walk(tree):
        cond = _fish_quote(_fish_condition(node.path, node))
        for name, child in node.children.items():
            lines.append(
                f"complete -c netdiag -n {cond} -a {name} -d {_fish_quote(_first_line(child.help))}"
            )
        for o in node.options:
            flags = []
            for f in o.flags:
                flags.append(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}")
            value = ""
            if o.takes_value:
                value = f" -x -a {_fish_quote(' '.join(o.choices))}" if o.choices else " -r -F"
            lines.append(
                f"complete -c netdiag -n {cond} {' '.join(flags)}{value} "
                f"-d {_fish_quote(_first_line(o.help))}"
            )
        if not node.children:
            if node.positional_choices:
                lines.append(
                    f"complete -c netdiag -n {cond} -x -a "
                    f"{_fish_quote(' '.join(node.positional_choices))}"
                )
            elif node.path:
                lines.append(f"complete -c netdiag -n {cond} -F")
    return "\n".join(lines) + "\n"
