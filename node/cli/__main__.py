"""`python -m node.cli` runs the `consort` command."""

import sys

from node.cli import main

sys.exit(main())
