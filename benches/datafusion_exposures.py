"""The SPEC §4 photo-API rule in DataFusion's straightforward formulation, through the
`datafusion` Python package (the comparison's "straightforward SQL" row for DataFusion; the
tuned formulation is the `sql` detector's, analyzer/sql/exposures.sql).

Usage: python benches/datafusion_exposures.py DATASET OUT.parquet
"""

import sys
from pathlib import Path

import datafusion


def main(root: Path, out: Path) -> int:
    ctx = datafusion.SessionContext()
    ctx.register_parquet("ev", str(root / "events"))
    sql = (Path(__file__).parent / "sql" / "datafusion_exposures_straightforward.sql").read_text()
    ctx.sql(sql).write_parquet(str(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
