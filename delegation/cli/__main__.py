"""``python -m delegation.cli``."""

import sys

from delegation.cli.main import main

sys.exit(main())
