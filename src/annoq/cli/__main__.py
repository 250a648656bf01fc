"""``python -m annoq.cli``: the same as the ``annoq`` script."""

import sys

from ._app import main

sys.exit(main())
