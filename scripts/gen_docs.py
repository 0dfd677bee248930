"""Write the generated documentation pages from the code they describe:

    docs/openapi.json      node.api.openapi.render(): the member API in OpenAPI 3.1
    docs/transactions.md   node.cli.txdoc.markdown(): every transaction type, from the registry

    .venv/bin/python scripts/gen_docs.py           write both
    .venv/bin/python scripts/gen_docs.py --check   exit 1 naming each page that is out of date

tests/unit/test_openapi.py and tests/unit/test_txdoc.py fail when a committed
page differs from what this writes, so run it after changing a route, a
limit, a transaction type or its arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.api.openapi import render  # noqa: E402 - after the path is set
from node.cli.txdoc import markdown  # noqa: E402

PAGES = {"docs/openapi.json": render, "docs/transactions.md": markdown}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, make in PAGES.items():
        path, text = ROOT / name, make()
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {name}")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run scripts/gen_docs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
