#!/usr/bin/env bash
# Creates or updates .venv at the project root with everything ionic-assets needs.
#   bash deploy/local/install.sh          the platform with CHGNet, SevenNet and MACE
#   bash deploy/local/install.sh --test   also the test tools and system packages the tests use
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PY=${PYTHON:-python3.12}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

stamp=.venv/.ionic-assets-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || $0 -nt $stamp ]]; then
    echo "[install] torch (under Python 3.12 PyPI serves the CUDA build, about 3 GB)"
    pip install "torch==2.13.0"
    echo "[install] ionic-assets with force-model extras"
    pip install -e ".[chgnet,sevenn,mace,dev]"
    # mace-torch pins e3nn==0.4.4, SevenNet needs e3nn>=0.5: MACE goes in without its pin
    # (its other requirements come from the [mace] extra); its tests run it under e3nn 0.5.
    pip install --no-deps "mace-torch==0.3.16"
    touch "$stamp"
fi

if (( want_test )); then
    missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v cp2k >/dev/null || missing+=(cp2k cp2k-data)
    # The warehouse tests' throwaway DuckLake catalog server (lib/pg_local.py).
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    if (( ${#missing[@]} )); then
        echo "[install] Debian packages: ${missing[*]}"
        if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi
echo "[install] .venv ready"
