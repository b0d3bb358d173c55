#!/usr/bin/env bash
# The sql detector on a Ballista cluster of 1 and 2 executors started here on loopback,
# beside DataFusion in one process and `exact`. Sets up everything it needs
# (benches/setup.sh, the same build compare.sh uses) and keeps the results under
# benches/runs/<date>-<machine>/.  Usage: benches/cluster.sh [--users N] [--rounds R] [--executors 1,2]
set -euo pipefail
source "$(dirname "$0")/setup.sh"
exec benches/.venv/bin/python benches/cluster.py "$@"
