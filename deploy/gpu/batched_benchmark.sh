#!/usr/bin/env bash
# Batched (torch-sim) vs sequential (ASE) MD on a GPU: the paper's 21 supercells, 1, 5, 21 and
# 105 systems (21 materials x 5 temperatures), SevenNet-0 and MACE (medium-mpa-0 architecture,
# random weights), 20 timed steps, float32 (ionic_assets/benchmarks/batched_md.py).
#
#   bash deploy/gpu/batched_benchmark.sh prepare DIR
#       on a machine with the repository's .venv and OBELiX (OBELIX_DATA_DIR, as for the main
#       command): writes into DIR the 21 cells (paper_cells.extxyz, so that the GPU machine
#       needs neither OBELiX nor pymatgen) and site.tar.xz, the Python packages the run imports
#       beyond a CUDA torch environment, copied from .venv and trimmed.
#   bash deploy/gpu/batched_benchmark.sh run DIR OUT [--deadline-s SECONDS]
#       on the GPU machine, in a copy of the repository, with Python 3.12 (`python3`, or PYTHON)
#       and torch with CUDA: writes batched_md.json, batched_md.md and log.txt into OUT. The
#       JSON and markdown are rewritten after each row, so a run stopped at its deadline keeps
#       the rows it finished.
#
# The GPU environment is assumed to have torch, numpy, scipy, h5py, pandas, scikit-learn,
# torch-geometric and torchmetrics. site.tar.xz holds the rest the run imports: ase, torch-sim,
# sevenn (only the SevenNet-0 checkpoint of its eight), mace, e3nn (this project's version),
# matscipy, lmdb, orjson, torch-ema, braceexpand (sevenn and mace import them at load) and
# tables, numexpr (torch-sim's trajectory module); kinisi, scipp (without its C++ headers), emcee,
# uncertainties, bs4, soupsieve, pytz (science.diffusion is imported by the MD runner). Left out:
# warp-lang and nvalchemi-toolkit-ops (several hundred MB), so torch-sim falls back to its
# pure-torch neighbour list (the report records which), and blosc2 (tables imports it only when
# used).
set -euo pipefail

usage() {
  echo "usage: $0 prepare DIR | run DIR OUT [--deadline-s SECONDS]" >&2
  exit 2
}

prepare() {
  local dir python site stage
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)
  cd "$(dirname "$0")/../.."
  python=.venv/bin/python
  site=$($python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  stage=$(mktemp -d)
  PYTHONPATH=$PWD $python -c "from pathlib import Path
from ionic_assets.benchmarks.batched_md import paper_cells
Path('$dir/paper_cells.extxyz').unlink(missing_ok=True)
print(len(paper_cells(Path('$dir/paper_cells.extxyz'))), 'cells')"
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
  tar -C "$stage" -cf - . | xz -6 -T2 >"$dir/site.tar.xz"
  rm -rf "$stage"
  du -sh "$dir"/*
}

run() {
  local dir out deadline_s="" python=${PYTHON:-python3} site
  dir=$(cd "$1" && pwd)
  mkdir -p "$2"
  out=$(cd "$2" && pwd)
  shift 2
  while (($#)); do
    case "$1" in
      --deadline-s) deadline_s=${2:?--deadline-s needs a number of seconds}; shift 2 ;;
      *) usage ;;
    esac
  done
  cd "$(dirname "$0")/../.."
  site=$(mktemp -d)
  trap "rm -rf '$site'" EXIT # $site is local: expand it now
  $python -c "import tarfile; tarfile.open('$dir/site.tar.xz').extractall('$site', filter='data')"
  export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/log.txt"
  local command=("$python" -m ionic_assets.benchmarks.batched_md --device cuda
    --models sevenn mace-mpa0-random sevenn-l3i5 sevenn-mf-0-pbe --sizes 1 5 21 105 --steps 20 --repeats 1
    --cells "$dir/paper_cells.extxyz" --out "$out")
  if [[ -n $deadline_s ]]; then
    command=(timeout "$deadline_s" "${command[@]}")
  fi
  "${command[@]}" 2>&1 | tee -a "$out/log.txt"
}

case "${1:-}" in
  prepare) (($# == 2)) || usage; prepare "$2" ;;
  run) (($# >= 3)) || usage; run "${@:2}" ;;
  *) usage ;;
esac
