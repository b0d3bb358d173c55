"""The SPEC §4 photo-API rule as a Polars lazy query over a dataset's event log.

Usage: python benches/polars_exposures.py DATASET OUT.parquet [VIOLATIONS.parquet]
Writes (app_id, user_id, photo_id, first_exposed_ts) to OUT.parquet; given VIOLATIONS.parquet,
finds the message violations too (the one formulation of benches/polars_tuned.py) and writes
them there.
"""

import sys
from pathlib import Path

import polars as pl


def before(ts_a, id_a, ts_b, id_b):
    """(ts_a, id_a) < (ts_b, id_b) in log order."""
    return (ts_a < ts_b) | ((ts_a == ts_b) & (id_a < id_b))


def exposures(root: Path) -> pl.LazyFrame:
    ev = pl.scan_parquet(str(root / "events" / "*.parquet")).select(
        "event_id", "ts", pl.col("kind").cast(pl.String), "user_id", "app_id", "photo_id",
        pl.col("surface").cast(pl.String), "status", "page", "page_size",
    )
    deploys = (
        ev.filter(pl.col("kind").is_in(["bug_introduced", "bug_fixed"]))
        .group_by("kind")
        .agg(pl.col("ts").min(), pl.col("event_id").min())
        .collect()
    )
    intro = deploys.filter(pl.col("kind") == "bug_introduced").row(0, named=True)
    fixed = deploys.filter(pl.col("kind") == "bug_fixed")
    fix = fixed.row(0, named=True) if fixed.height else None

    calls = ev.filter((pl.col("kind") == "photo_api_call") & (pl.col("status") == 200)).select(
        pl.col("event_id").alias("call_id"), pl.col("ts").alias("call_ts"), "user_id", "app_id", "page", "page_size"
    )
    bug = before(pl.lit(intro["ts"]), pl.lit(intro["event_id"]), pl.col("call_ts"), pl.col("call_id"))
    if fix is not None:
        bug = bug & before(pl.col("call_ts"), pl.col("call_id"), pl.lit(fix["ts"]), pl.lit(fix["event_id"]))
    calls = calls.with_columns(bug.alias("bug"))

    uploads = ev.filter(pl.col("kind") == "photo_uploaded").select(
        "user_id", "photo_id", pl.col("ts").alias("up_ts"), pl.col("event_id").alias("up_id"), "surface"
    )
    publishes = ev.filter(pl.col("kind") == "photo_published").select(
        "photo_id", pl.col("ts").alias("pub_ts"), pl.col("event_id").alias("pub_id")
    )
    deletes = ev.filter(pl.col("kind") == "photo_deleted").select(
        "photo_id", pl.col("ts").alias("del_ts"), pl.col("event_id").alias("del_id")
    )
    cand = (
        calls.join(uploads, on="user_id")
        .filter(before(pl.col("up_ts"), pl.col("up_id"), pl.col("call_ts"), pl.col("call_id")))
        .join(publishes, on="photo_id", how="left")
        .join(deletes, on="photo_id", how="left")
        .filter(pl.col("del_ts").is_null() | before(pl.col("call_ts"), pl.col("call_id"), pl.col("del_ts"), pl.col("del_id")))
        .with_columns(
            pl.when(pl.col("pub_ts").is_not_null() & before(pl.col("pub_ts"), pl.col("pub_id"), pl.col("call_ts"), pl.col("call_id")))
            .then(pl.lit("timeline"))
            .otherwise(pl.col("surface"))
            .alias("surface_now")
        )
        .filter((pl.col("surface_now") == "timeline") | (pl.col("bug") & pl.col("surface_now").is_in(["marketplace", "story", "draft"])))
        .sort(["call_id", "up_ts", "photo_id"], descending=[False, True, True])
        .with_columns(pl.int_range(1, pl.len() + 1).over("call_id").alias("pos"))
        .filter(
            (pl.col("surface_now") != "timeline")
            & (pl.col("pos") > pl.col("page") * pl.col("page_size"))
            & (pl.col("pos") <= pl.col("page") * pl.col("page_size") + pl.col("page_size"))
        )
    )
    return cand.group_by("app_id", "user_id", "photo_id").agg(pl.col("call_ts").min().alias("first_exposed_ts"))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        sys.exit(2)
    exposures(Path(sys.argv[1])).collect().write_parquet(sys.argv[2])
    if len(sys.argv) == 4:
        from polars_tuned import violations
        violations(Path(sys.argv[1])).write_parquet(sys.argv[3])
