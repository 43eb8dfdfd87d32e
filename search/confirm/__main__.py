"""``python -m search.confirm``."""

import sys

from search.confirm.command import main

sys.exit(main())
