"""What the command groups share: the default node URL, the usage error and
JSON output."""

from __future__ import annotations

import json
import os

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "http://127.0.0.1:7100")


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def print_json(document) -> None:
    print(json.dumps(document, indent=2))
