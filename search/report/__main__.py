"""``python -m search.report``."""

import sys

from search.report.command import main

sys.exit(main())
