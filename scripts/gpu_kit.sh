#!/usr/bin/env bash
# Assemble, on this (CPU) machine, what a lent GPU machine lacks, as git-ignored folders that a device `run` carries:
#   .whl/               papermill, nbconvert, ipykernel, nbval, ipywidgets (../shared/tools/device-wheels.sh) and the
#                       peers' wheels (omikuji, napkinxc, pyhessian, curvlinops, backpack + their small deps): ~20 MB
#   .whl_nm/            the subset a batch run needs beside the model (no debugpy, jedi, widget front ends, Hessian
#                       peers): ~7 MB, so that .gpu/model + .whl_nm + the tree fit one call (~62 MB)
#   .whl_extra/         the Hessian peers (pyhessian, curvlinops, backpack, einconv, unfoldNd): ~0.3 MB
#   .gpu/model/         all-MiniLM-L6-v2 in bf16 (scripts/export_minilm.py): ~46 MB (the fp32 package is 88 MB)
#   .gpu/graphs/        planetoid/, gnn-benchmark-npz/, musae/, debian-bookworm/Packages.xz from ../shared/data: ~18 MB
#   .gpu/cifar10-jpeg/  the CIFAR-10 JPEG tarball from ../shared/data: ~20 MB
# What travels in one call is at most 64 MiB with the working tree (~9 MB), so the pieces go in separate calls;
# carried folders stay on the machine while it is warm (30 s after a call). The call plan is
# scripts/GPU_CHECKS.md; scripts/gpu_checks.sh says which piece a step misses.
set -euo pipefail
top=$(git rev-parse --show-toplevel); cd "$top"
shared=${SHARED_DATA:-$top/../shared/data}
py=${PYTHON:-.venv/bin/python}
[ -d "$shared" ] || { echo "no shared data at $shared (set SHARED_DATA)"; exit 2; }

bash "$top/../shared/tools/device-wheels.sh" >/dev/null
# the peers without their dependencies (torch/torchvision are on the machine; pulling them would fetch GBs) ...
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
python3 -m pip download -q "${plat[@]}" --no-deps -d .whl omikuji napkinxc pyhessian \
  curvlinops-for-pytorch==3.0.1 backpack-for-pytorch==1.7.1 2>&1 | { grep -v '^WARNING: Location' || true; }
# ... and their small pure-Python dependencies that the machine's image lacks
python3 -m pip download -q "${plat[@]}" --no-deps -d .whl einconv unfoldNd cffi pycparser 2>&1 \
  | { grep -v '^WARNING: Location' || true; }

rm -rf .whl_nm .whl_extra; mkdir -p .whl_nm .whl_extra
for f in .whl/*.whl; do  # hard links: no second copy on disk
  case $(basename "$f") in
    debugpy*|jedi*|widgetsnbextension*|jupyterlab_widgets*) ;;
    PyHessian*|backpack*|curvlinops*|einconv*|unfoldNd*) ln -f "$f" .whl_extra/ ;;
    *) ln -f "$f" .whl_nm/ ;;
  esac
done
mkdir -p .gpu/graphs/debian-bookworm .gpu/cifar10-jpeg
"$py" scripts/export_minilm.py .gpu/model >/dev/null || { echo "export_minilm.py failed (is $py set up?)" >&2; exit 1; }
for d in planetoid gnn-benchmark-npz musae; do rm -rf ".gpu/graphs/$d"; cp -r "$shared/$d" .gpu/graphs/; done
cp "$shared/debian-bookworm/main_binary-amd64_Packages.xz" .gpu/graphs/debian-bookworm/
cp "$shared/cifar10-jpeg/"* .gpu/cifar10-jpeg/
chmod -R u+w .gpu
tree_mb=$(git ls-files -z | xargs -0 du -cb | tail -1 | awk '{printf "%.1f", $1/1e6}')
echo "working tree ${tree_mb} MB; carry pieces:"
du -shl .whl .whl_nm .whl_extra .gpu/model .gpu/graphs .gpu/cifar10-jpeg  # -l: the subsets are hard links
