"""``python -m search.launch``."""

import sys

from search.launch.command import main

sys.exit(main())
