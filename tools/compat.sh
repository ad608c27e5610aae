#!/usr/bin/env bash
# The suite on other Pythons and NumPys than CI's: for each interpreter given (default: every
# pyenv Python from 3.10 on), a fresh virtual environment with the project's test extra and the
# newest releases there, then the README's test command. NUMPY="<2" (a pip specifier) pins NumPy.
#
#     bash tools/compat.sh                        # every pyenv Python >= 3.10
#     bash tools/compat.sh python3.11             # one interpreter
#     NUMPY="<2" bash tools/compat.sh python3.11  # with the newest NumPy 1.x
set -uo pipefail
cd "$(dirname "$0")/.."

pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
    for dir in "$root"/versions/3.*; do
        version="$(basename "$dir")"
        minor="${version#3.}"; minor="${minor%%.*}"
        [ "$minor" -ge 10 ] 2>/dev/null && pythons+=("$dir/bin/python")
    done
fi
[ ${#pythons[@]} -gt 0 ] || { echo "no Python found: give interpreters as arguments"; exit 2; }

failed=0
for python in "${pythons[@]}"; do
    work="$(mktemp -d)"
    echo "== $python ${NUMPY:+(numpy$NUMPY)}"
    if "$python" -m venv "$work/venv" \
        && "$work/venv/bin/python" -m pip install --quiet --upgrade pip \
        && "$work/venv/bin/python" -m pip install --quiet -e ".[test]" ${NUMPY:+"numpy$NUMPY"}; then
        "$work/venv/bin/python" -c "import sys, numpy as n, scipy as s; print(sys.version.split()[0], n.__version__, s.__version__)"
        "$work/venv/bin/python" -m pytest -q -n auto | tail -n 3 || failed=1
    else
        echo "could not install the test extra with $python"
        failed=1
    fi
    rm -rf "$work"
done
exit $failed
