#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler 1.20.2 from Debian's own source
# package `kubernetes` (its vendored Go modules, Debian's golang-go: nothing from the internet
# beyond the Debian archive), for the tests' control plane (ionic_assets_tests/k8s_local.py).
# Once: the binaries go to ~/.cache/ionic-assets/kubernetes-1.20.2/bin, outside any clone, and a
# second run only checks they are there. About 9 minutes and 1.3 GB of memory on 2 cores.
#   bash deploy/local/build_kubernetes.sh
set -euo pipefail
version=1.20.2
cache=${IONIC_ASSETS_CACHE:-$HOME/.cache/ionic-assets}
bin=$cache/kubernetes-$version/bin
servers=(kube-apiserver kube-controller-manager kube-scheduler)

have_all() { for s in "${servers[@]}"; do [[ -x $bin/$s ]] || return 1; done; }
if have_all; then echo "[kubernetes] $version binaries in $bin"; exit 0; fi

if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
# The source package is in bullseye (1.20.5+really1.20.2); a deb-src entry for it alone.
sources=/etc/apt/sources.list.d/ionic-k8s-src.sources
if [[ ! -f $sources ]]; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        | $SUDO tee "$sources" >/dev/null
fi
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v rsync >/dev/null || missing+=(rsync)
command -v make >/dev/null || missing+=(make)
command -v etcd >/dev/null || missing+=(etcd-server)
echo "[kubernetes] building $version into $bin (once, about 9 minutes)"
$SUDO apt-get update -qq
(( ${#missing[@]} )) && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null

src=$cache/src
mkdir -p "$src" "$cache/build"
if ! compgen -G "$src/kubernetes_*.orig.tar.gz" >/dev/null; then
    # `apt-get source` fetches the orig tarball, then fails on the .dsc (gone from the mirror):
    # the tarball is the whole source, so that failure is expected.
    (cd "$src" && apt-get source --download-only -qq kubernetes >/dev/null 2>&1 || true)
fi
tarball=$(compgen -G "$src/kubernetes_*.orig.tar.gz" | head -1) || {
    echo "error: kubernetes: no source tarball from apt-get source (see $sources)" >&2; exit 1; }
tree=$cache/build/kubernetes-$version
if [[ ! -f $tree/Makefile ]]; then
    rm -rf "$tree" && mkdir -p "$tree"
    tar -xzf "$tarball" -C "$tree" --strip-components=1
fi
# The version a source tarball cannot tell (no .git): 1.20.2's release commit.
(cd "$tree" && CGO_ENABLED=0 KUBE_GIT_VERSION=v$version KUBE_GIT_TREE_STATE=clean \
    KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56 \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >"$cache/build/kubernetes-$version.log" 2>&1) || {
    echo "error: kubernetes: build failed, see $cache/build/kubernetes-$version.log" >&2; exit 1; }
mkdir -p "$bin.partial"
for s in "${servers[@]}"; do cp "$tree/_output/local/bin/linux/amd64/$s" "$bin.partial/"; done
rm -rf "$bin" && mv "$bin.partial" "$bin"
rm -rf "$tree"  # 1.5 GB of build tree; the tarball stays for a rebuild
echo "[kubernetes] $version binaries in $bin"
