"""``python -m scones``: the CLI, for child processes that must use this interpreter's install."""

import sys

from scones.cli import main

sys.exit(main())
