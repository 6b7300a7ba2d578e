"""``python -m popsim.cli ...`` runs exactly what the ``popsim`` command runs."""

import sys

from popsim.cli.main import main

sys.exit(main())
