#!/usr/bin/env bash
# Runs every test (real jupyter-server and HTTP servers) with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
unformatted=$(gofmt -l . | grep -v '^bin/' || true)
if [[ -n "$unformatted" ]]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go test -race -count=1 -timeout 30m ./...
