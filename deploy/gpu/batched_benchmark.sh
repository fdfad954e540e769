#!/usr/bin/env bash
# Batched (torch-sim) vs sequential (ASE) MD on a GPU: the paper's 21 supercells, 1, 5, 21 and
# 105 systems (21 materials x 5 temperatures), SevenNet-0 and MACE (medium-mpa-0 architecture,
# random weights), 20 timed steps, float32 (ionic_assets/benchmarks/batched_md.py).
#
#   1. here, in the checkout the device tool sends (needs .venv and OBELiX, as the main command):
#        OBELIX_DATA_DIR=../shared/obelix bash deploy/device/batched_gpu.sh prepare
#      writes .device-gpu/ (git-ignored through .git/info/exclude, ~23 MB): the 21 cells
#      (extxyz, so that the GPU machine needs neither OBELiX nor pymatgen) and site.tar.xz, the
#      packages the run imports that the GPU image lacks, copied from .venv and trimmed.
#   2. on the GPU machine (Python 3.12 with torch), in the repository root, within ~8 min:
#        bash deploy/device/batched_gpu.sh run
#      through the device tool: run(command="bash deploy/device/batched_gpu.sh run",
#      carry=[".device-gpu"], timeout_s=600). Results in $OUT: batched_md.json, batched_md.md
#      and log.txt (one JSON row per line as each finishes, so a cut-off run keeps its rows).
#
# What travels, and why (the tree's limit is 64 MiB): the GPU image has torch, numpy, scipy,
# h5py, pandas, scikit-learn, torch-geometric, torchmetrics. The run imports, beyond those: ase,
# torch-sim, sevenn (only the SevenNet-0 checkpoint of its eight: 43 MB wheel -> 10 MB), mace,
# e3nn (this project's version), matscipy, lmdb, orjson, torch-ema, braceexpand (sevenn and
# mace import them at load) and tables, numexpr (torch-sim's trajectory module); kinisi, scipp
# (without its C++ headers), emcee, uncertainties, bs4, soupsieve, pytz (science.diffusion is
# imported by the MD runner). Not carried: warp-lang and nvalchemi-toolkit-ops (several hundred
# MB), so torch-sim falls back to its pure-torch neighbour list (torch_nl_linked_cell; the
# report records which), and blosc2 (tables imports it only when used).
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-.device-gpu} # another folder: CARRY=... for both steps

prepare() {
  local python=.venv/bin/python site stage
  site=$($python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  stage=$(mktemp -d)
  mkdir -p "$CARRY"
  if [[ $CARRY != /* ]] && ! git check-ignore -q "$CARRY"; then
    echo "/$CARRY/" >>"$(git rev-parse --git-path info/exclude)"
  fi
  PYTHONPATH=$PWD $python -c "from pathlib import Path
from ionic_assets.benchmarks.batched_md import paper_cells
Path('$CARRY/paper_cells.extxyz').unlink(missing_ok=True)
print(len(paper_cells(Path('$CARRY/paper_cells.extxyz'))), 'cells')"
  local packages=(ase braceexpand bs4 e3nn emcee kinisi lmdb mace matscipy numexpr orjson pytz
    scipp sevenn soupsieve tables tables.libs torch_ema torch_sim uncertainties)
  local dists=(ase beautifulsoup4 bs4 braceexpand e3nn emcee kinisi lmdb mace_torch matscipy
    numexpr orjson pytz scipp sevenn soupsieve tables torch_ema torch_sim_atomistic uncertainties)
  (cd "$site" && cp -r "${packages[@]}" "$stage/" &&
    for d in "${dists[@]}"; do cp -r "$d"-*.dist-info "$stage/"; done)
  rm -rf "$stage"/kinisi/tests "$stage"/scipp/include
  find "$stage/sevenn/pretrained_potentials" -mindepth 1 -maxdepth 1 \
    ! -name SevenNet_0__11Jul2024 -exec rm -rf {} +
  find "$stage" -name __pycache__ -prune -exec rm -rf {} +
  tar -C "$stage" -cf - . | xz -6 -T2 >"$CARRY/site.tar.xz"
  rm -rf "$stage"
  du -sh "$CARRY"/*
}

run() {
  : "${OUT:=$PWD/device-out}"
  mkdir -p /tmp/site "$OUT"
  python3 -c "import tarfile; tarfile.open('$CARRY/site.tar.xz').extractall('/tmp/site', filter='data')"
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/log.txt"
  timeout 470 python3 -m ionic_assets.benchmarks.batched_md --device cuda \
    --models sevenn mace-mpa0-random --sizes 1 5 21 105 --steps 20 --repeats 1 \
    --cells "$CARRY/paper_cells.extxyz" --out "$OUT" 2>&1 | tee -a "$OUT/log.txt"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
