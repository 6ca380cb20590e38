#!/usr/bin/env bash
# Rehearse the GPU profiles on this CPU before spending device time: each profile listed in
# scripts/rehearsal/<study>.txt runs through the runner with the overrides on its line (device=cpu, sizes shrunk to
# a minute or two), into a scratch reports directory. It catches what a profile's own combination of parameters
# breaks in the notebook (which on a lent GPU costs a whole call); not the CUDA-only paths (the `cuda` tests), not
# timings. Lines: `PROFILE -p name=value ...` ($DATA is the shared data folder, default ../shared/data).
#   bash scripts/rehearse.sh                       # every listed profile (~12.5-15 min on 2 cores)
#   bash scripts/rehearse.sh lr_scaling negative_mining:gpu_long
set -uo pipefail
PY=${PYTHON:-.venv/bin/python}
DATA=$(realpath "${DATA:-../shared/data}" 2>/dev/null || echo "${DATA:-../shared/data}")
REPORTS=${REPORTS:-$(mktemp -d)/reports}
export WORKBENCH_BATCH=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DATA
failed=(); ran=0
for file in scripts/rehearsal/*.txt; do
  study=$(basename "$file" .txt)
  while read -r profile args; do
    [[ -z "$profile" || "$profile" == \#* ]] && continue
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx -e "$study" -e "$study:$profile"; then continue; fi
    echo "== $study:$profile  $args"
    ran=$((ran + 1)); start=$(date +%s)
    # eval: the lines quote YAML values ('seeds=[0]') and name $DATA; stdin closed, or a run could eat the lines
    if eval "\"\$PY\" -m workbench run $study --profile $profile $args --reports \"\$REPORTS\"" </dev/null 2>&1 | tail -3; then
      echo "   ok in $(( $(date +%s) - start )) s"
    else
      echo "   FAILED in $(( $(date +%s) - start )) s (record: $REPORTS/$study/)"; failed+=("$study:$profile")
    fi
  done < "$file"
done
echo "reports in $REPORTS"
[ "$ran" -gt 0 ] || { echo "no profile matched: $* (see scripts/rehearsal/*.txt)"; exit 1; }
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
