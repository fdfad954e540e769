#!/usr/bin/env bash
# Creates or updates .venv at the project root with everything ionic-assets needs.
#   bash deploy/local/install.sh          the platform with CHGNet, SevenNet and MACE
#   bash deploy/local/install.sh --test   also the test tools and system packages the tests use
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

is_python312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }
# torch-sim 0.6 (the batched MD engine) needs Python 3.12: $PYTHON, else the PATH's python3.12,
# else pyenv's (a pyenv shim answers only for the pyenv version selected).
find_python312() {
    local candidate
    for candidate in "${PYTHON:-}" python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12; do
        if [[ -n $candidate ]] && is_python312 "$candidate"; then echo "$candidate"; return; fi
    done
    echo "error: Python 3.12 not found (torch-sim 0.6 needs it): set PYTHON=/path/to/python3.12" >&2
    return 1
}
if [[ -x .venv/bin/python ]] && ! is_python312 .venv/bin/python; then
    echo "[install] .venv is not Python 3.12: making it anew"
    rm -rf .venv
fi
[[ -x .venv/bin/python ]] || "$(find_python312)" -m venv .venv
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
    # The warehouse tests' throwaway DuckLake catalog server (ionic_assets_tests/pg_local.py).
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    # The tests' Kubernetes control plane (ionic_assets_tests/k8s_local.py): etcd, and the
    # Kubernetes servers built once from Debian's source package (build_kubernetes.sh).
    command -v etcd >/dev/null || missing+=(etcd-server)
    if (( ${#missing[@]} )); then
        echo "[install] Debian packages: ${missing[*]}"
        if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    bash deploy/local/build_kubernetes.sh
fi
echo "[install] .venv ready"
