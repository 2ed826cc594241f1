#!/usr/bin/env bash
# Installs what agentteam needs to run and to be tested (Jupyter Server,
# ipykernel, pandas, matplotlib, nbformat/nbclient, bubblewrap; e2fsprogs and
# mount for the sandbox's disk limit; util-linux and curl for its tests;
# Chromium for the web page's tests) from Debian
# packages, then builds the agentteam binary into ./bin.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(jupyter-server python3-ipykernel python3-pandas python3-matplotlib
      python3-nbformat python3-nbclient jupyter-nbconvert python3-openpyxl bubblewrap
      e2fsprogs mount util-linux curl chromium)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

/usr/bin/python3 -c 'import ipykernel, pandas, matplotlib, nbformat' \
  || { echo "setup: Debian's python3 lacks ipykernel/pandas/matplotlib/nbformat" >&2; exit 1; }
command -v jupyter-server >/dev/null || command -v jupyter >/dev/null \
  || { echo "setup: jupyter-server not on PATH" >&2; exit 1; }

go build -o bin/agentteam ./cmd/agentteam
echo "setup: ok (bin/agentteam built)"
