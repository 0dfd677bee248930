"""How the `consort` command logs: --log-level and --log-format, the JSON
lines a log shipper reads, and the defaults.

Both options are accepted before the command (`consort --log-level debug
node start`) and after it (`consort node start --log-level debug`); given in
both places, the later one wins. A long-running node logs at info unless
told otherwise, so its operator sees it start, change membership and stop;
the short commands log at warning, so their output is their answer.

`--log-format json` writes one JSON object a line to stderr, with the keys
`time` (ISO 8601 UTC, milliseconds), `level` (lower case), `logger`,
`message` and, when the record carries one, `exception` (the traceback's
text). Every line is a whole object, whatever the message holds (newlines
and quotes are escaped by the encoder), so a shipper never has to join lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
LEVEL_DEFAULT = "warning"        # a short command: its output is its answer
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def add_logging_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """--log-level and --log-format on `parser`. On a command's own parser the
    defaults are left out (argparse.SUPPRESS), so an option given before the
    command is not overwritten by the command's default."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--log-level", choices=LEVELS, default=default,
                        help="debug, info, warning or error (default: info for `node start`, else warning)")
    parser.add_argument("--log-format", choices=FORMATS, default=default,
                        help="text (default) or json: one JSON object a line (time, level, logger, message, "
                             "exception) for log shippers")


def chosen_level(args: argparse.Namespace) -> str:
    """The level the command line asks for, else the command's own default."""
    return getattr(args, "log_level", None) or getattr(args, "log_level_default", LEVEL_DEFAULT)


def configure(level: str, log_format: str | None, stream=None) -> logging.Handler:
    """Send the root logger's records at `level` and above to `stream`
    (stderr) in `log_format`; replaces any handler set before."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
