#!/usr/bin/env bash
# Macro benchmark: blastradius `exact` against DuckDB, Polars and DataFusion on one dataset.
# Sets up everything it needs (benches/setup.sh) and keeps the results under
# benches/runs/<date>-<machine>/.  Usage: benches/compare.sh [--users N] [--rounds R]
set -euo pipefail
source "$(dirname "$0")/setup.sh"
exec benches/.venv/bin/python benches/compare.py "$@"
