#!/usr/bin/env bash
# Macro benchmark: blastradius `exact` against DuckDB, Polars and DataFusion on one dataset.
# Sets up everything it needs (a release build with DataFusion and Ballista, about 20 minutes the first
# time on 2 cores, and a Python virtual environment) and keeps the results under
# benches/runs/<date>-<machine>/.  Usage: benches/compare.sh [--users N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --features ballista
if [ ! -x benches/.venv/bin/python ]; then
    python3 -m venv benches/.venv
fi
benches/.venv/bin/pip install --quiet --disable-pip-version-check duckdb polars pytz datafusion==55.0.0
exec benches/.venv/bin/python benches/compare.py "$@"
