"""Entry point for `python -m callcov_analytics.sandbox`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
