"""`python -m ragops.gateway ...`: the gateway without the main CLI (used by the benchmark)."""

import sys

from ragops.gateway.cli import main

sys.exit(main())
