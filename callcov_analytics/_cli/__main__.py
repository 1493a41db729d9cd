"""``python -m callcov_analytics._cli``: the command."""

import sys

from . import main

sys.exit(main())
