#!/usr/bin/env bash
# The suite on other Pythons and NumPys than CI's: for each interpreter given (default: every
# pyenv Python from 3.10 on), a fresh virtual environment with the project's test extra and the
# newest releases there, then the README's test command. NUMPY="<2" (a pip specifier) pins NumPy;
# LOWEST=1 pins the runtime dependencies to the oldest releases pyproject.toml allows
# ("numpy>=1.24" installs numpy 1.24.*), the test extra's libraries resolving around them.
#
#     bash tools/compat.sh                        # every pyenv Python >= 3.10
#     bash tools/compat.sh python3.11             # one interpreter
#     NUMPY="<2" bash tools/compat.sh python3.11  # with the newest NumPy 1.x
#     LOWEST=1 bash tools/compat.sh python3.11    # with the oldest NumPy, SciPy and threadpoolctl
set -uo pipefail
cd "$(dirname "$0")/.."

pins=()
[ -n "${NUMPY:-}" ] && pins+=("numpy$NUMPY")
if [ -n "${LOWEST:-}" ]; then
    mapfile -t lowest < <(python3 -c '
import re, tomllib
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    print(re.sub(r"\s*>=\s*", "==", requirement) + ".*")')
    pins+=("${lowest[@]}")
fi

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
    echo "== $python ${pins[*]}"
    if "$python" -m venv "$work/venv" \
        && "$work/venv/bin/python" -m pip install --quiet --upgrade pip \
        && "$work/venv/bin/python" -m pip install --quiet -e ".[test]" "${pins[@]}"; then
        "$work/venv/bin/python" -c "import sys, numpy as n, scipy as s, threadpoolctl as t
print(sys.version.split()[0], 'numpy', n.__version__, 'scipy', s.__version__, 'threadpoolctl', t.__version__)"
        "$work/venv/bin/python" -m pytest -q -n auto | tail -n 3 || failed=1
    else
        echo "could not install the test extra with $python"
        failed=1
    fi
    rm -rf "$work"
done
exit $failed
