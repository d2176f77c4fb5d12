"""The ``deltaprop`` command: train, predict, evaluate and explain from a shell.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``; this module only builds the parser and dispatches, every
subcommand behind the one error boundary of `deltaprop.cli.errors`.
``explain`` belongs to `deltaprop.inspect.explain` and gets its arguments as they are.
"""

from __future__ import annotations

import sys

from deltaprop.cli import compare_rules, evaluate, generate, predict, processes, train
from deltaprop.cli.errors import EXIT_USAGE, ArgumentParser, CLIError, run_guarded


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="deltaprop",
        description="Train neural networks by backpropagation and show the work.",
        epilog="Run 'deltaprop COMMAND --help' for a command's options. "
        "Start with 'deltaprop train' (bundled digits, seconds).",
    )
    from deltaprop import __version__

    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="name", metavar="COMMAND", parser_class=ArgumentParser)
    train.add_parser(sub)
    predict.add_parser(sub)
    evaluate.add_parser(sub)
    generate.add_parser(sub)
    compare_rules.add_parser(sub)
    sub.add_parser("explain", help="show every z, a, delta and gradient of a network (see 'explain --help')",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deltaprop`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "explain":  # its own parser, behind the same error boundary
        from deltaprop.cli import explain

        try:
            return run_guarded("deltaprop explain", explain.run, argv[1:])
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        print(f"deltaprop: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version end here
        return int(exc.code or 0)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return EXIT_USAGE
    return processes.run_command(f"deltaprop {args.name}", args.name, args.command, args)
