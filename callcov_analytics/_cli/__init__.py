"""The callcov-analytics command: its parser, exit codes and subcommands."""
