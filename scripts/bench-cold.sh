#!/usr/bin/env bash
# Compares the cold path of one cell: `agentteam exec -c` (it starts its own
# embedded jupyter-server and a kernel, runs the cell, shuts both down),
# sandboxed (the default) and with --no-sandbox, against `jupyter-execute`
# (nbclient: a kernel over local ZeroMQ, no server) on a 1-cell notebook.
# Whole process, wall time; PAIRS interleaved rounds after a warm-up round.
# Prints each run, the medians and the ratios of the medians, and the load
# average before and after (a busy machine makes every figure worse: quote
# the ratios, and rerun when the load is high).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-7}
CODE='print(6 * 7)'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/agentteam" ./cmd/agentteam
/usr/bin/python3 - "$work/nb.ipynb" "$CODE" <<'PY'
import sys, nbformat
nb = nbformat.v4.new_notebook()
nb.cells.append(nbformat.v4.new_code_cell(sys.argv[2]))
nbformat.write(nb, sys.argv[1])
PY
mkdir -p "$work/run"

# run NAME CMD...: runs CMD in $work/run, checks that it printed 42 and
# exited 0, and prints its wall time in seconds.
run() {
  local name=$1 s e out
  shift
  s=$(date +%s.%N)
  if ! out=$(cd "$work/run" && "$@" 2>&1); then
    echo "$name failed: $out" >&2
    exit 1
  fi
  e=$(date +%s.%N)
  [[ $name == jupyter-execute ]] || grep -qx 42 <<<"$out" || { echo "$name printed no 42: $out" >&2; exit 1; }
  echo "$e - $s" | bc
}
sandboxed() { run sandboxed "$work/agentteam" exec -c "$CODE"; }
unsandboxed() { run no-sandbox "$work/agentteam" exec --no-sandbox -c "$CODE"; }
jx() { run jupyter-execute /usr/bin/jupyter-execute "$work/nb.ipynb"; }

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average before: $(load)"
sandboxed >/dev/null; unsandboxed >/dev/null; jx >/dev/null # warm-up
a=(); n=(); j=()
for i in $(seq "$PAIRS"); do
  # Rotate the order so that no variant always runs first.
  case $((i % 3)) in
  0) a+=("$(sandboxed)"); n+=("$(unsandboxed)"); j+=("$(jx)") ;;
  1) j+=("$(jx)"); a+=("$(sandboxed)"); n+=("$(unsandboxed)") ;;
  2) n+=("$(unsandboxed)"); j+=("$(jx)"); a+=("$(sandboxed)") ;;
  esac
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
ma=$(median "${a[@]}"); mn=$(median "${n[@]}"); mj=$(median "${j[@]}")
printf 'cold one-cell run, %d rounds, median wall time (runs)\n' "$PAIRS"
printf '  agentteam exec (sandboxed):   %.3f s  (%s)\n' "$ma" "${a[*]}"
printf '  agentteam exec --no-sandbox:  %.3f s  (%s)\n' "$mn" "${n[*]}"
printf '  jupyter-execute:              %.3f s  (%s)\n' "$mj" "${j[*]}"
printf 'ratio sandboxed/jupyter-execute: %.2f\n' "$(echo "$ma / $mj" | bc -l)"
printf 'ratio no-sandbox/jupyter-execute: %.2f\n' "$(echo "$mn / $mj" | bc -l)"
echo "load average after: $(load)"
