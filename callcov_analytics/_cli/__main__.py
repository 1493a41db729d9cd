"""``python -m callcov_analytics._cli``: the command."""

import sys

from .main import main

sys.exit(main())
