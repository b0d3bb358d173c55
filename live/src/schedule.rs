//! When each event is meant to be sent: its intended send time, as an offset from the start
//! of the replay. Latency is measured from it, so a replayer that falls behind cannot hide
//! the delay (no coordinated omission).
//!
//! ```
//! use blastradius_live::schedule::Shape;
//! let s = Shape::parse(Some(1000.0), "constant", None).unwrap();
//! assert_eq!(s.intended(500, 0), 500_000); // the 500th event at 1,000 events/s: 0.5 s
//! ```

/// How the rate changes over the replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// A fixed rate, events per second.
    Constant(f64),
    /// From one rate to another, linearly over a duration (µs), then the second rate.
    Ramp { from: f64, to: f64, over_us: f64 },
    /// A base rate, and a peak rate for `length_us` at the start of every `every_us`.
    Burst {
        base: f64,
        peak: f64,
        every_us: f64,
        length_us: f64,
    },
    /// Log time, sped up: an event is sent `(ts - first ts) / speedup` after the start.
    Speedup(f64),
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `1d` into microseconds.
///
/// # Errors
/// A message saying what form was expected.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    use blastradius_schema::time::{DurationError, parse_duration_us};
    match parse_duration_us(text) {
        Ok(us) if us > 0.0 => Ok(us),
        Err(DurationError::Unit(unit)) => Err(format!(
            "`{text}`: unknown unit `{unit}`; use us, ms, s, m, h or d"
        )),
        _ => Err(format!("`{text}` is not a positive duration such as 30s")),
    }
}

fn rate(text: &str, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{what} `{text}` is not a positive number of events per second"
        )),
    }
}

impl Shape {
    /// The shape `--rate RATE --shape SHAPE` or `--speedup X` describes: `constant`,
    /// `ramp:FROM:TO:DURATION`, or `burst:PEAK:EVERY:LENGTH` (bursts at PEAK events/s for
    /// LENGTH at the start of every EVERY, the rest at RATE).
    ///
    /// # Errors
    /// A message naming the flag and the form expected.
    pub fn parse(
        rate_flag: Option<f64>,
        shape: &str,
        speedup: Option<f64>,
    ) -> Result<Shape, String> {
        if let Some(x) = speedup {
            if rate_flag.is_some() {
                return Err("--speedup and --rate: give one of them".into());
            }
            if !(x.is_finite() && x > 0.0) {
                return Err(format!("--speedup {x}: give a positive factor, e.g. 1000"));
            }
            return Ok(Shape::Speedup(x));
        }
        let parts: Vec<&str> = shape.split(':').collect();
        let base = || {
            rate_flag
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    "--rate: give a positive number of events per second (or --speedup)".to_string()
                })
        };
        match parts.as_slice() {
            ["constant"] => Ok(Shape::Constant(base()?)),
            ["ramp", ..] if rate_flag.is_some() => Err(
                "--rate and --shape ramp: a ramp sets its own rates (FROM to TO); leave --rate out"
                    .into(),
            ),
            ["ramp", from, to, over] => Ok(Shape::Ramp {
                from: rate(from, "--shape ramp: FROM")?,
                to: rate(to, "--shape ramp: TO")?,
                over_us: parse_duration(over).map_err(|e| format!("--shape ramp: {e}"))?,
            }),
            ["burst", peak, every, length] => {
                let (every_us, length_us) = (
                    parse_duration(every).map_err(|e| format!("--shape burst: {e}"))?,
                    parse_duration(length).map_err(|e| format!("--shape burst: {e}"))?,
                );
                if length_us >= every_us {
                    return Err("--shape burst: LENGTH must be shorter than EVERY".into());
                }
                Ok(Shape::Burst {
                    base: base()?,
                    peak: rate(peak, "--shape burst: PEAK")?,
                    every_us,
                    length_us,
                })
            }
            _ => Err(format!(
                "--shape {shape}: use constant, ramp:FROM:TO:DURATION or burst:PEAK:EVERY:LENGTH"
            )),
        }
    }

    /// The intended send time, in µs after the start, of the `n`-th event (from 0), whose
    /// log time is `ts_from_first` µs after the first event's.
    pub fn intended(&self, n: u64, ts_from_first: i64) -> i64 {
        let n = n as f64;
        let seconds = match *self {
            Shape::Constant(r) => n / r,
            Shape::Speedup(x) => return (ts_from_first as f64 / x) as i64,
            Shape::Ramp { from, to, over_us } => {
                let t_end = over_us / 1e6;
                let at_end = (from + to) / 2.0 * t_end;
                if n >= at_end {
                    t_end + (n - at_end) / to
                } else {
                    // n = from·t + (to − from)·t² / (2·t_end), solved for t.
                    let a = (to - from) / (2.0 * t_end);
                    if a.abs() < 1e-12 {
                        n / from
                    } else {
                        (-from + (from * from + 4.0 * a * n).sqrt()) / (2.0 * a)
                    }
                }
            }
            Shape::Burst {
                base,
                peak,
                every_us,
                length_us,
            } => {
                let (period, length) = (every_us / 1e6, length_us / 1e6);
                let per_period = peak * length + base * (period - length);
                let k = (n / per_period).floor();
                let rest = n - k * per_period;
                k * period
                    + if rest < peak * length {
                        rest / peak
                    } else {
                        length + (rest - peak * length) / base
                    }
            }
        };
        (seconds * 1e6) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_speedup() {
        let c = Shape::parse(Some(2_000_000.0), "constant", None).unwrap();
        assert_eq!(c.intended(0, 0), 0);
        assert_eq!(c.intended(2_000_000, 0), 1_000_000);
        let s = Shape::parse(None, "constant", Some(1000.0)).unwrap();
        assert_eq!(s.intended(7, 86_400_000_000), 86_400_000);
    }

    #[test]
    fn a_ramp_sends_the_area_under_its_rate() {
        let r = Shape::parse(None, "ramp:1000:3000:10s", None).unwrap();
        // A --rate beside a ramp would be ignored: refused, not dropped silently.
        let both = Shape::parse(Some(5.0), "ramp:1000:3000:10s", None).unwrap_err();
        assert!(both.contains("--rate and --shape ramp"), "{both}");
        // After 10 s: (1000 + 3000) / 2 × 10 = 20,000 events; then 3,000 a second.
        assert_eq!(r.intended(20_000, 0), 10_000_000);
        assert_eq!(r.intended(23_000, 0), 11_000_000);
        // Halfway through the ramp the rate is 2,000: 1,000·5 + 200·25/2... = 7,500 events.
        assert!((r.intended(7_500, 0) - 5_000_000).abs() < 10);
        let mut last = -1;
        for n in (0..30_000).step_by(97) {
            let t = r.intended(n, 0);
            assert!(t >= last, "never backwards");
            last = t;
        }
    }

    #[test]
    fn bursts_come_at_the_start_of_every_period() {
        let b = Shape::parse(Some(100.0), "burst:1000:10s:1s", None).unwrap();
        // A period holds 1000·1 + 100·9 = 1,900 events.
        assert_eq!(b.intended(1_000, 0), 1_000_000);
        assert_eq!(b.intended(1_900, 0), 10_000_000);
        assert_eq!(b.intended(1_950, 0), 10_050_000);
    }

    #[test]
    fn bad_shapes_are_named() {
        assert!(
            Shape::parse(None, "constant", None)
                .unwrap_err()
                .contains("--rate")
        );
        assert!(
            Shape::parse(Some(1.0), "zigzag", None)
                .unwrap_err()
                .contains("--shape zigzag")
        );
        assert!(
            Shape::parse(Some(1.0), "burst:5:1s:2s", None)
                .unwrap_err()
                .contains("shorter")
        );
        assert!(
            Shape::parse(Some(1.0), "constant", Some(2.0))
                .unwrap_err()
                .contains("one of them")
        );
        assert!(parse_duration("-5s").is_err() && parse_duration("3 fortnights").is_err());
    }
}
