#!/usr/bin/env bash
# What a session with a lent GPU runs there (the plan: scripts/GPU_CHECKS.md). Steps, in the order given (default: all):
#   tests                 the CUDA-marked tests (zero-copy aliasing and bit-exactness, CPU-vs-GPU agreement, ...)
#   <study>[:<profile>]   that study's `gpu` profile (or the one named) through the runner, time-boxed; its report
#                         is packed into $OUT
# e.g.  bash scripts/gpu_checks.sh tests gpu_data_access negative_mining:gpu_long
# Pieces a lent machine lacks come from scripts/gpu_kit.sh, carried in separate calls (64 MiB per call): .whl (papermill
# & co, the peers), .gpu/model (bf16 MiniLM), .gpu/graphs, .gpu/cifar10-jpeg. Where a .gpu piece is absent (your own
# GPU machine after `make setup`), a study reads what its profile names (CIFAR-10 from ~/data/cifar10-jpeg, MiniLM
# from its package; real graphs only with -p data_root=...), or what STUDY_ARGS points it at.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
STUDY_TIMEOUT=${STUDY_TIMEOUT:-520}  # one study per 600 s call, after the wheel install
TESTS_TIMEOUT=${TESTS_TIMEOUT:-300}  # the CUDA tests, all together; one test at most 120 s
# STUDY_ARGS (e.g. "-p seed=1") is added to every study's command line: name one study when a parameter is its
# own (negative_mining's "-p cpu_threads=1"; gpu_data_access calls its threads torch_threads / gather_threads).
# RESUME=1: continue each study's newest unfinished run of its profile under reports/ (`--resume`: recorded
# parameters, finished units read back) instead of starting one. Bring a cut run back from an earlier call's $OUT
# with  mkdir -p reports/S/RUN_ID && tar xzf S-PROFILE.tgz -C reports/S/RUN_ID  and carry reports/S.
PY=${PYTHON:-python3}  # the lent machine's; on your own machine after `make setup`: PYTHON=.venv/bin/python
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WORKBENCH_BATCH=1 MPLBACKEND=Agg
[ -f .gpu/model/config.json ] && export WORKBENCH_MINILM_DIR=$PWD/.gpu/model
if ! git rev-parse HEAD >/dev/null 2>&1 && [ -z "${WORKBENCH_GIT_COMMIT:-}" ]; then
  echo "note: no checkout here and WORKBENCH_GIT_COMMIT unset: reports will record commit 'unknown'"
fi
# every wheel carried in this call (.whl: all; .whl_nm: papermill & co and the XMC peers, small enough to travel with
# .gpu/model; .whl_extra: the Hessian peers), without dependency resolution: the sets leave out what is never
# imported in a batch run (debugpy, jedi, the widget front ends). pip skips what is installed already.
wheels=$(ls .whl/*.whl .whl_nm/*.whl .whl_extra/*.whl 2>/dev/null | awk -F/ '!seen[$2]++')
[ -n "$wheels" ] && "$PY" -m pip install -q --no-index --no-deps --no-compile $wheels 2>&1 | grep -v -i warning
nvidia-smi --query-gpu=name,memory.total,driver_version,pci.bus_id --format=csv | tee -a "$OUT/device.txt"
# without a GPU every CUDA test skips and every study runs its CPU path: that would pass as "checked on a GPU"
if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "no CUDA device visible to $PY (torch.cuda.is_available() is False): these checks need one" >&2; exit 1
fi

need() {  # need PATH WHAT: say what to carry when a piece is missing
  [ -e "$1" ] && return 0
  echo "   missing $1 ($2): build it with scripts/gpu_kit.sh here and carry it in this or an earlier call"; return 1
}

carried() {  # carried PATH WHAT: whether a .gpu piece is here; when not, say what the study reads instead
  [ -e "$1" ] && return 0
  echo "   no $1 here: $2" >&2; return 1
}

study_args() {  # the overrides that point a study's gpu profile at the carried data, where it was carried
  case "$1" in
    batch_size_spectra|lr_scaling) carried .gpu/cifar10-jpeg "CIFAR-10 from the profile's data_path" \
      && echo "-p data_path=.gpu/cifar10-jpeg" ;;
    gpu_data_access) carried .gpu/graphs "real graphs only with -p data_root=... in STUDY_ARGS" \
      && echo "-p data_root=.gpu/graphs" ;;
    negative_mining) carried .gpu/model "MiniLM from \$WORKBENCH_MINILM_DIR or its package" ;;
  esac
  return 0
}

steps=${*:-tests gpu_data_access negative_mining lsh_sampling batch_size_spectra lr_scaling}
failed=()
for s in $steps; do
  start=$(date +%s)
  if [ "$s" = tests ]; then
    echo "== CUDA tests"
    per_test=""; "$PY" -c "import pytest_timeout" 2>/dev/null && per_test="--timeout 120"  # a plugin, not always there
    # shellcheck disable=SC2086
    timeout -k 10 "$TESTS_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -m cuda $per_test --durations 15 -rfE tests \
      2>&1 | tee "$OUT/cuda_tests.log" | tail -60
    rc=${PIPESTATUS[0]}  # 5: no CUDA test collected, a failure here as in CI; 124: the time box
  else
    "$PY" -c "import papermill" 2>/dev/null || { need .whl "papermill & co" || { failed+=("$s"); continue; }; }
    profile=gpu; [[ $s == *:* ]] && profile=${s#*:} && s=${s%%:*}
    args="$(study_args "$s") ${STUDY_ARGS:-}"
    echo "== $s ($profile profile $args, at most ${STUDY_TIMEOUT}s)"
    [ -n "${RESUME:-}" ] && args="--resume"
    touch "$OUT/.started"  # a run folder this call wrote to is newer; an older one (a refused resume) is not packed
    # SIGTERM at the time box: the runner marks the run failed and still writes the partial report
    # shellcheck disable=SC2086
    timeout -k 30 "$STUDY_TIMEOUT" "$PY" -m workbench run "$s" --profile "$profile" $args 2>&1 | tail -5
    rc=${PIPESTATUS[0]}
    d=$(ls -td reports/"$s"/*/ 2>/dev/null | head -1)
    if [ -n "$d" ] && [ -n "$(find "$d" -newer "$OUT/.started" -print -quit)" ]; then
      # checkpoints (model and optimizer states, hundreds of MB) stay behind; finished units (partial/) travel
      tar czf "$OUT/$s-$profile.tgz" --exclude ./checkpoints -C "$d" . \
        && echo "report: $OUT/$s-$profile.tgz (run $(basename "$d"))"
    else
      echo "   no run folder written by this call: nothing packed"
    fi
    s=$s:$profile
  fi
  [ "$rc" -eq 0 ] || failed+=("$s")
  echo "   $s took $(( $(date +%s) - start )) s, exit $rc" | tee -a "$OUT/steps.txt"
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" | tee -a "$OUT/steps.txt"; exit 1; }
