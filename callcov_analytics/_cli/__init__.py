"""The callcov-analytics command: its parser, exit codes and subcommands."""

from .parser import main

__all__ = ["main"]
