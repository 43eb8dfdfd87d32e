"""``python -m search.dashboard``."""

import sys

from search.dashboard.command import main

sys.exit(main())
