#!/usr/bin/env bash
# The whole test suite: package tests, then every study notebook at its defaults under nbval (lax).
# pytest's exit 5 ("no tests collected") is a failure here, never a silent pass.
set -uo pipefail
PY=${1:-.venv/bin/python}; [ $# -gt 0 ] && shift
export WORKBENCH_BATCH=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export WORKBENCH_SCRATCH=${WORKBENCH_SCRATCH:-$(mktemp -d)/scratch}
notebooks=(notebooks/*.ipynb)
"$PY" -m pytest -q -p no:cacheprovider --nbval-lax tests "${notebooks[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
