# Sourced by the macro benchmarks (compare.sh, cluster.sh): the release build with the
# ballista feature (DataFusion and Ballista; about 20 minutes the first time on 2 cores) and
# the Python environment the comparisons run in.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet --features ballista
if [ ! -x benches/.venv/bin/python ]; then
    python3 -m venv benches/.venv
fi
benches/.venv/bin/pip install --quiet --disable-pip-version-check duckdb polars pytz datafusion==55.0.0 \
    pyspark
