"""A first measurement for issue 26 (discovery), not a contract: a rate-spike baseline on a
View-As world's access log (data/README §13).

It counts `token_issued` rows of path `video_uploader` per hour, without looking at
`target_id` (a rule that did would be rule 1 itself, the answer). It raises an alarm in an
hour whose count exceeds the mean of the previous 7 days' hours by `K` standard deviations
(default 6). It never reads the flaw's deploy rows.

It prints the first alarm against the attack's first theft (the truth's earliest
`stolen_ts`; on a control world, made with `generate --no-incident`, there is none), and
the alarms per day outside the attack (every alarm, on a control world).

Usage: python benches/discovery/rate_spike.py DATASET [K]
"""

import datetime
import json
import statistics
import sys

import duckdb


def utc(t: datetime.datetime) -> datetime.datetime:
    """`t` with its zone: DuckDB may hand a UTC timestamp back without one."""
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


def main(root: str, k: float) -> dict:
    con = duckdb.connect()
    hours = con.execute(f"""
        SELECT date_trunc('hour', ts) AS h, count(*) AS n
        FROM read_parquet('{root}/access/*.parquet')
        WHERE kind = 'token_issued' AND path = 'video_uploader'
        GROUP BY h ORDER BY h""").fetchall()
    m = json.load(open(f"{root}/manifest.json"))
    start = datetime.datetime.fromisoformat(m["period"]["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(m["period"]["end"].replace("Z", "+00:00"))
    counts = {utc(h): n for h, n in hours}
    alarms = []
    t = start + datetime.timedelta(days=7)
    while t < end:
        past = [counts.get(t - datetime.timedelta(hours=i), 0) for i in range(1, 7 * 24 + 1)]
        mu, sd = statistics.mean(past), statistics.pstdev(past)
        n = counts.get(t, 0)
        if n > mu + k * max(sd, 1.0):
            alarms.append(t)
        t += datetime.timedelta(hours=1)
    control = m.get("control", False)
    first_theft = last_theft = None
    if not control:
        first_theft, last_theft = map(utc, con.execute(
            f"SELECT min(stolen_ts), max(stolen_ts) FROM read_parquet('{root}/truth/stolen_tokens/*.parquet')"
        ).fetchone())
    during = [a for a in alarms if first_theft and first_theft - datetime.timedelta(hours=1) <= a <= last_theft]
    false = [a for a in alarms if a not in during]
    watched_days = (end - start).days - 7
    after = [a for a in during if a + datetime.timedelta(hours=1) > first_theft] if first_theft else []
    return {
        "dataset": root,
        "control": control,
        "k": k,
        "hours_alarmed": len(alarms),
        "first_theft": first_theft.isoformat() if first_theft else None,
        "first_alarm": min(after).isoformat() if after else None,
        "time_to_detect_hours": round((min(after) + datetime.timedelta(hours=1) - first_theft).total_seconds() / 3600, 2) if after else None,
        "false_alarm_hours_per_day": round(len(false) / watched_days, 3),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 6.0)))
