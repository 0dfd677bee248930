# Sourced by the scripts: create or reuse .venv and install the project
# (with its test extras) when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="$VENV/bin/python"
if [ ! -x "$PYTHON" ]; then
  echo "setting up $VENV ..." >&2
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.consort-installed"
WANT="$(cd "$ROOT" && cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing consort and its dependencies into $VENV ..." >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$ROOT[test]" >&2
  echo "$WANT" > "$STAMP"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
