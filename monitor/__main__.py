"""``python -m monitor`` is the ``driftline`` command."""

import sys

from monitor.cli import main

sys.exit(main())
