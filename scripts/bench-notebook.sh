#!/usr/bin/env bash
# Compares running a 300-cell notebook with `agentteam exec` against an
# already-running jupyter-server with `jupyter-execute` (nbclient, local
# ZeroMQ) on the same notebook. Best of 3 each; prints both and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
CELLS=${CELLS:-300}
RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'kill -- -$srv_pid 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/agentteam" ./cmd/agentteam

/usr/bin/python3 - "$work/nb.ipynb" "$CELLS" <<'PY'
import sys, nbformat
path, n = sys.argv[1], int(sys.argv[2])
nb = nbformat.v4.new_notebook()
for i in range(n):
    src = f"x = {i}\nx * 2" if i % 10 else f"print('cell {i}')"
    nb.cells.append(nbformat.v4.new_code_cell(src))
nbformat.write(nb, path)
PY

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
root=""; [[ $(id -u) -eq 0 ]] && root="--allow-root"
mkdir -p "$work/root"
JUPYTER_RUNTIME_DIR="$work/runtime" setsid jupyter-server --no-browser $root \
  --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.token="$token" \
  --ServerApp.root_dir="$work/root" >"$work/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do
  curl -fsS -H "Authorization: token $token" "http://127.0.0.1:$port/api/status" >/dev/null 2>&1 && break
  sleep 0.1
done

best() { sort -n | head -1; }
time_cmd() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }

at=(); jx=()
for _ in $(seq "$RUNS"); do
  at+=("$(time_cmd "$work/agentteam" exec --jupyter-url "http://127.0.0.1:$port/" --token "$token" --out "$work/out-at.ipynb" "$work/nb.ipynb")")
  jx+=("$(time_cmd /usr/bin/jupyter-execute --output="$work/out-jx.ipynb" "$work/nb.ipynb")")
done
a=$(printf '%s\n' "${at[@]}" | best)
j=$(printf '%s\n' "${jx[@]}" | best)
printf 'notebook: %d cells, best of %d\n' "$CELLS" "$RUNS"
printf 'agentteam exec (remote jupyter-server): %.3f s  (runs: %s)\n' "$a" "${at[*]}"
printf 'jupyter-execute (nbclient, ZeroMQ):     %.3f s  (runs: %s)\n' "$j" "${jx[*]}"
printf 'ratio agentteam/jupyter-execute: %.2f\n' "$(echo "$a / $j" | bc -l)"
