"""The SPEC §4 photo-API rule in DataFusion's straightforward formulation, through the
`datafusion` Python package (the comparison's "straightforward SQL" row for DataFusion; the
tuned formulation is the `sql` detector's, analyzer/sql/exposures.sql).

Usage: python benches/datafusion_exposures.py DATASET OUT.parquet [VIOLATIONS.parquet]
Given VIOLATIONS.parquet, finds the message violations too, with the `sql` detector's own
statements (analyzer/sql/violations.sql, run in order on the same context), and writes them there.
"""

import re
import sys
from pathlib import Path

import datafusion


def main(root: Path, out: Path, violations_out: Path | None) -> int:
    ctx = datafusion.SessionContext()
    ctx.register_parquet("ev", str(root / "events"))
    sql = (Path(__file__).parent / "sql" / "datafusion_exposures_straightforward.sql").read_text()
    ctx.sql(sql).write_parquet(str(out))
    if violations_out:
        script = (Path(__file__).parent.parent / "analyzer" / "sql" / "violations.sql").read_text()
        # Statements end with a semicolon at the end of a line; the last one is the answer.
        statements = [s for s in re.split(r";[ \t]*\n", script)
                      if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())]
        for statement in statements[:-1]:
            ctx.sql(statement).collect()
        ctx.sql(statements[-1]).write_parquet(str(violations_out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        sys.exit(2)
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) == 4 else None))
