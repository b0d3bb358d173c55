"""The interop matrix: each engine opens every table of a dataset with the logical types a
warehouse user expects, and counts the manifest's rows.

Usage: python .ci/interop.py DATASET [--engines duckdb,pyarrow,polars,datafusion,spark]

The expected types are stated here, apart from the code that writes them, from
data/README.md §2: ids and large counts are signed 64-bit (`bigint`), pages, sizes and
per-user counts signed 32-bit, the HTTP status signed 16-bit, timestamps in UTC, enums and
names strings, `scopes` a list of strings. No engine may see an unsigned or decimal id.
Prints one line per engine and table; exits 1 with a line per failure.
"""

import argparse
import json
import sys
from pathlib import Path

I64, I32, I16, TS, STR, LIST = "int64", "int32", "int16", "timestamp[UTC]", "string", "list<string>"

TABLES = {
    "providers.parquet": {"provider_id": I64, "name": STR},
    "apps.parquet": {"app_id": I64, "provider_id": I64, "name": STR, "category": STR, "scopes": LIST},
    "deploys.parquet": {"deploy_id": I64, "ts": TS, "service": STR},
    "users": {"user_id": I64, "registered_at": TS},
    "events": {
        "event_id": I64, "ts": TS, "kind": STR, "user_id": I64, "app_id": I64, "photo_id": I64,
        "surface": STR, "scope": STR, "action": STR, "status": I16, "page": I32,
        "page_size": I32, "items_returned": I32,
    },
    "truth/exposures": {
        "app_id": I64, "user_id": I64, "photo_id": I64, "surface": STR, "first_exposed_ts": TS,
        "first_exposed_event_id": I64,
    },
    "truth/affected_users": {"user_id": I64, "apps": I32, "photos": I32},
    "truth/affected_apps.parquet": {"app_id": I64, "provider_id": I64, "users": I64, "photos": I64},
    "truth/bug_deploys.parquet": {"deploy_id": I64, "ts": TS, "change": STR},
    "truth/message_violations": {"event_id": I64, "app_id": I64, "user_id": I64, "action": STR, "ts": TS},
    # View-As worlds only (data/README §13).
    "friendships": {"user_id": I64, "friend_id": I64},
    "access": {
        "event_id": I64, "ts": TS, "kind": STR, "user_id": I64, "target_id": I64, "token_id": I64,
        "issued_token_id": I64, "session_id": I64, "client": STR, "network": I64, "path": STR,
        "field_group": STR,
    },
    "truth/stolen_tokens": {
        "token_id": I64, "user_id": I64, "stolen_ts": TS, "stolen_event_id": I64, "hop": I32,
        "pivot_id": I64,
    },
    "truth/view_as_users": {"user_id": I64, "tier": STR, "field_groups": LIST},
}


def files_of(root: Path, table: str) -> list:
    p = root / table
    return [p] if p.suffix == ".parquet" else sorted(p.glob("*.parquet"))


# Each engine: (name, open(files) -> (rows, {column: logical type})). The type names are
# each engine's own, mapped to the logical ones above; anything unmapped stays as the engine
# spells it, so a failure shows what the engine saw.

def duckdb_engine():
    import duckdb
    con = duckdb.connect()
    names = {"BIGINT": I64, "INTEGER": I32, "SMALLINT": I16, "VARCHAR": STR,
             "VARCHAR[]": LIST, "TIMESTAMP WITH TIME ZONE": TS}

    def read(files):
        paths = [str(f) for f in files]
        rows = con.execute("SELECT count(*) FROM read_parquet(?)", [paths]).fetchone()[0]
        cols = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [paths]).fetchall()
        return rows, {c[0]: names.get(c[1], c[1]) for c in cols}
    return read


def arrow_type(t) -> str:
    import pyarrow as pa
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_int64(t):
        return I64
    if pa.types.is_int32(t):
        return I32
    if pa.types.is_int16(t):
        return I16
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STR
    if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Etc/UTC"):
        return TS
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and arrow_type(t.value_type) == STR:
        return LIST
    return str(t)


def pyarrow_engine():
    import pyarrow.parquet as pq

    def read(files):
        t = pq.read_table([str(f) for f in files]) if len(files) > 1 else pq.read_table(str(files[0]))
        return t.num_rows, {f.name: arrow_type(f.type) for f in t.schema}
    return read


def polars_engine():
    import polars as pl
    names = {pl.Int64: I64, pl.Int32: I32, pl.Int16: I16, pl.String: STR}

    def name(t):
        if t in names:
            return names[t]
        if isinstance(t, pl.Datetime) and t.time_zone == "UTC":
            return TS
        if isinstance(t, pl.List) and t.inner == pl.String:
            return LIST
        return str(t)

    def read(files):
        df = pl.read_parquet([str(f) for f in files])
        return df.height, {c: name(t) for c, t in df.schema.items()}
    return read


def datafusion_engine():
    import datafusion
    ctx = datafusion.SessionContext()
    n = [0]

    def read(files):
        n[0] += 1
        table = f"t{n[0]}"
        path = str(files[0]) if len(files) == 1 else str(files[0].parent)
        ctx.register_parquet(table, path)
        df = ctx.table(table)
        rows = ctx.sql(f"SELECT count(*) AS n FROM {table}").to_pydict()["n"][0]
        return rows, {f.name: arrow_type(f.type) for f in df.schema()}
    return read


def spark_engine():
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T
    spark = (SparkSession.builder.master("local[2]").appName("blastradius interop")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def name(t):
        if isinstance(t, T.LongType):
            return I64
        if isinstance(t, T.IntegerType):
            return I32
        if isinstance(t, T.ShortType):
            return I16
        if isinstance(t, T.StringType):
            return STR
        # Spark's TimestampType is an instant (UTC-adjusted), shown in the session's zone.
        if isinstance(t, T.TimestampType):
            return TS
        if isinstance(t, T.ArrayType) and isinstance(t.elementType, T.StringType):
            return LIST
        return t.simpleString()

    def read(files):
        df = spark.read.parquet(*[str(f) for f in files])
        return df.count(), {f.name: name(f.dataType) for f in df.schema.fields}
    return read


ENGINES = {"duckdb": duckdb_engine, "pyarrow": pyarrow_engine, "polars": polars_engine,
           "datafusion": datafusion_engine, "spark": spark_engine}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    root = args.dataset
    manifest = json.loads((root / "manifest.json").read_text())
    rows = {}
    for f in manifest["files"]:
        table = f["path"] if "/part-" not in f["path"] else f["path"].rsplit("/", 1)[0]
        rows[table] = rows.get(table, 0) + f["rows"]
    failures = []
    for engine in args.engines.split(","):
        if engine not in ENGINES:
            print(f"unknown engine {engine}: one of {', '.join(ENGINES)}", file=sys.stderr)
            return 2
        read = ENGINES[engine]()
        for table, want in TABLES.items():
            if table not in rows:
                continue  # a blind dataset has no truth/
            n, got = read(files_of(root, table))
            wrong = {c: got.get(c, "missing") for c, t in want.items() if got.get(c) != t}
            extra = sorted(set(got) - set(want))
            ok = n == rows[table] and not wrong and not extra
            detail = "" if ok else f": {n} rows (manifest {rows[table]}), wrong types {wrong}, extra columns {extra}"
            print(f"{'ok  ' if ok else 'FAIL'} {engine:10} {table}{detail}", flush=True)
            if not ok:
                failures.append(f"{engine} {table}")
    print(f"{len(failures)} failed" if failures else "interop matrix: every engine reads every table as the contract says")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
