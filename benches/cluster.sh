#!/usr/bin/env bash
# The sql detector on a Ballista cluster of 1 and 2 executors started here on loopback,
# beside DataFusion in one process and `exact`. Builds what it needs (a release build with
# the ballista feature, about 20 minutes the first time on 2 cores; the same build
# benches/compare.sh uses) and keeps the results under benches/runs/<date>-<machine>/.
# Usage: benches/cluster.sh [--users N] [--rounds R] [--executors 1,2]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --features ballista
if [ ! -x benches/.venv/bin/python ]; then
    python3 -m venv benches/.venv
fi
benches/.venv/bin/pip install --quiet --disable-pip-version-check duckdb polars pytz datafusion==55.0.0
exec benches/.venv/bin/python benches/cluster.py "$@"
