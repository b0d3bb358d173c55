//! What a replay measured, and its pages: `report.json`, `report.md`, `live.html` and the
//! latency histogram, built from one document model. Plain code: the replay (`replay`)
//! fills it in, the harness reads it.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::Error;
use crate::discovery::LiveDiscovery;
use crate::latency::{LatencyReport, LevelScores, hgrm};
use crate::timeline::Point as TimelinePoint;
use blastradius_analyzer::discover::{Incident, duration};
use blastradius_pages::chart::{Axis, Chart, Series};
use blastradius_pages::doc::{Block, Column, Doc, Table};

/// How far behind schedule the replay ran, in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Lag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// At the last event.
    pub last: f64,
}

/// What a replay measured.
#[derive(Clone, Debug, Serialize)]
pub struct LiveReport {
    pub format: &'static str,
    pub dataset: String,
    pub events_sent: u64,
    pub events_in_files: u64,
    /// Rows of the files not sent: each deploy's copies after the first.
    pub repeated_deploys: u64,
    /// Rows of the files not sent: events outside `--from`/`--until`.
    pub outside_slice: u64,
    /// Seconds the schedule asked for, and took.
    pub intended_seconds: f64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub lag_ms: Lag,
    /// Why the replay stopped before the end, if it did.
    pub stopped: Option<String>,
    /// What the report must say about how it measured.
    pub notes: Vec<String>,
    /// Events sent after an event later in log order `(ts, event_id)`: a damaged copy's
    /// late deliveries, sent in the order its files hold them (see data/README.md).
    pub late_events: u64,
    /// The most log time by which such an event trailed, in ms: a detector that waits at
    /// least this long (`detect --follow --lateness`) can restore log order.
    pub max_late_ms: f64,
    pub findings: u64,
    /// Alarms of a discovery detector (`{"alarm":{...}}`) among the lines that came back.
    pub alarms: u64,
    /// Their score, per incident they were about (see [`crate::discovery`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discovery: Vec<LiveDiscovery>,
    /// The dataset's world, for the alarms folders' `findings.json`.
    #[serde(skip)]
    pub world: String,
    pub findings_after_end: u64,
    pub premature_findings: u64,
    pub unparsed_lines: u64,
    /// The first of them: its line number on the findings channel, why, and its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unparsed: Option<String>,
    /// First-detection latency from the exposing call's intended send time (no truth: none).
    pub latency_ms: Option<LatencyReport>,
    pub scores: Option<LevelScores>,
    #[serde(skip)]
    pub histogram: Option<Histogram<u64>>,
    /// Over the replay's wall time: the schedule, the sends, the lag, the detections (see
    /// [`crate::timeline`]).
    pub timeline: Vec<TimelinePoint>,
}

impl LiveReport {
    /// The latency histogram of every first detection, in HdrHistogram's text format.
    pub fn hgrm(&self) -> String {
        self.histogram.as_ref().map_or_else(String::new, hgrm)
    }
}

/// What an incident's time to detect runs from.
fn onset_name(incident: Incident) -> &'static str {
    match incident {
        Incident::PhotoBug => "the bug's deploy was due",
        Incident::ViewAs => "the first theft was due",
    }
}

/// One incident's alarms: how soon (in log and wall time), how wrong, how big at first.
fn discovery_blocks(d: &LiveDiscovery) -> Vec<Block> {
    let mut out = vec![Block::Paragraph(format!(
        "**Discovery ({})**: alarms dated by the log time the stream had reached when each came, and scored as `score` scores a batch alarms folder; wall time to detect runs from the intended send time of {} ({}).{}",
        d.incident.as_str(),
        match d.incident {
            Incident::PhotoBug => "the bug's deploy row",
            Incident::ViewAs => "the attack's first theft",
        },
        match (d.onset_due_seconds, &d.score) {
            (Some(s), _) => format!("{s:.3} s after the start"),
            (None, None) => "not known: no truth to time it by".into(),
            (None, Some(_)) => "not sent: a control world, or a slice without it".into(),
        },
        match d.claims_ahead_of_stream {
            0 => String::new(),
            n => format!(
                " {n} alarms gave a `fired_ts` later than the log time the stream had reached when they came: they claim events not yet sent."
            ),
        } + &match d.unknown_users {
            0 => String::new(),
            n => format!(
                " {n} alarms name users the dataset does not have (counted wrong in the estimate; `score` refuses the folder)."
            ),
        }
    ))];
    let Some(score) = &d.score else {
        return out;
    };
    let rows = score
        .curve
        .iter()
        .zip(&d.wall)
        .map(|(c, w)| {
            vec![
                format!("{}", c.threshold),
                duration(c.time_to_detect_seconds),
                w.seconds.map_or("–".into(), |s| format!("{s:.3} s")),
                w.claimed_seconds.map_or("–".into(), |c| duration(Some(c))),
                match c.attributed {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "–".into(),
                },
                c.false_alarms.to_string(),
                c.false_alarms_per_day
                    .map_or("–".into(), |r| format!("{r:.2}")),
            ]
        })
        .collect();
    out.push(Block::Table(Table {
        caption: None,
        columns: vec![
            Column::number("confidence ≥"),
            Column::number("time to detect (log)"),
            Column::number("time to detect (wall)"),
            Column::number("by its own fired_ts"),
            Column::text("blamed the deploy"),
            Column::number("false alarms"),
            Column::number("false alarms a day"),
        ],
        rows,
    }));
    let estimates: Vec<String> = score
        .estimates
        .iter()
        .map(|e| {
            let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.2}"));
            format!(
                "At {} h: {} users named, precision {}, recall {} ({} of the {} exposed by then).",
                e.hours,
                e.users_named,
                f(e.user_precision),
                f(e.user_recall),
                f(e.user_recall_of_exposed),
                e.users_exposed_by_then
            )
        })
        .collect();
    if !estimates.is_empty() {
        out.push(Block::Lines(estimates));
    }
    out
}

/// A span of log time given in ms, in the unit that reads best.
fn log_span(ms: f64) -> String {
    match ms {
        m if m >= 3_600_000.0 => format!("{:.1} h", m / 3_600_000.0),
        m if m >= 60_000.0 => format!("{:.1} min", m / 60_000.0),
        m if m >= 1_000.0 => format!("{:.1} s", m / 1_000.0),
        m => format!("{m:.0} ms"),
    }
}

fn row_ms(name: &str, p: &crate::latency::Percentiles) -> Vec<String> {
    if p.count == 0 {
        return vec![
            name.into(),
            "0".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
        ];
    }
    vec![
        name.into(),
        p.count.to_string(),
        format!("{:.1}", p.p50),
        format!("{:.1}", p.p90),
        format!("{:.1}", p.p99),
        format!("{:.1}", p.p999),
        format!("{:.1}", p.max),
    ]
}

impl LiveReport {
    /// The report as a document: what `report.md` and `live.html` both render.
    pub fn doc(&self) -> Doc {
        let mut blocks = vec![Block::Paragraph(format!(
            "{} events sent in {:.2} s ({:.2}M events/s; the schedule asked for {:.2} s), of {} rows in the files: {} copies of the platform's own rows (deploys, and a View-As world's flaw and reset) in other shards are not sent again, {} rows lie outside --from/--until. Behind schedule: median {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.1} ms at the end.",
            self.events_sent,
            self.seconds,
            self.events_per_second / 1e6,
            self.intended_seconds,
            self.events_in_files,
            self.repeated_deploys,
            self.outside_slice,
            self.lag_ms.p50,
            self.lag_ms.p99,
            self.lag_ms.max,
            self.lag_ms.last
        ))];
        if let Some(why) = &self.stopped {
            blocks.push(Block::Paragraph(format!("**Stopped early**: {why}.")));
        }
        if self.late_events > 0 {
            blocks.push(Block::Paragraph(format!(
                "**Out of log order**: {} events came after an event later than themselves (a damaged copy delivered late, sent as its files hold them), up to {:.1} s of log time late. A detector that does not wait that long for late events (`detect --follow --lateness`) cannot give the batch answer.",
                self.late_events,
                self.max_late_ms / 1000.0
            )));
        }
        blocks.push(Block::Paragraph(format!(
            "{} findings and {} alarms came back ({} findings after the last event was sent, {} before the event that made them true, {} lines not understood).",
            self.findings, self.alarms, self.findings_after_end, self.premature_findings, self.unparsed_lines
        )));
        if let Some(first) = &self.first_unparsed {
            blocks.push(Block::Paragraph(format!(
                "The first line not understood: {first}."
            )));
        }
        if self.premature_findings > 0 {
            blocks.push(Block::Paragraph(format!(
                "**{} findings were premature**: they named a true item before the event that made it true was sent. A detector cannot know that; none counts as a detection, each is a false positive below.",
                self.premature_findings
            )));
        }
        blocks.push(Block::Charts(self.charts()));
        match &self.latency_ms {
            // A discovery detector's run: its alarms are scored below, no finding came.
            _ if !self.scoping() => {}
            None => blocks.push(Block::Paragraph(
                "No truth to match findings against: latency not measured.".into(),
            )),
            Some(l) => {
                blocks.push(Block::Paragraph(
                    "Latency of each first detection, from the intended send time of the row that made it true (a call; for the View-As levels, the token's theft), in ms:".into(),
                ));
                blocks.push(Block::Table(Table {
                    caption: None,
                    columns: vec![
                        Column::text("level"),
                        Column::number("detections"),
                        Column::number("p50"),
                        Column::number("p90"),
                        Column::number("p99"),
                        Column::number("p99.9"),
                        Column::number("max"),
                    ],
                    rows: [
                        Some(row_ms("users", &l.users)),
                        Some(row_ms("exposures", &l.exposures)),
                        Some(row_ms("violations", &l.violations)),
                        l.stolen_tokens
                            .as_ref()
                            .map(|p| row_ms("View-As stolen tokens", p)),
                        l.view_as_users.as_ref().map(|p| row_ms("View-As users", p)),
                        Some(row_ms("all", &l.all)),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                }));
                if l.log_time.count > 0 {
                    blocks.push(Block::Paragraph(format!(
                        "In log time, first detections came {} after their event (p50), {} at p99, {} at most: how far the log had gone past the event when the finding arrived. A detector that holds events for an allowed lateness (`detect --follow --lateness`) shows that wait here, whatever the replay's speed.",
                        log_span(l.log_time.p50),
                        log_span(l.log_time.p99),
                        log_span(l.log_time.max)
                    )));
                }
            }
        }
        if let Some(s) = self.scores.as_ref().filter(|_| self.scoping()) {
            let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
            let mut lines = vec![format!(
                "At the end: user F1 {}, exposure F1 {}, violation F1 {} (\"–\": not reported).",
                f(s.users.f1),
                f(s.exposures.as_ref().and_then(|e| e.f1)),
                f(s.violations.as_ref().and_then(|v| v.f1))
            )];
            if s.truth_carried != s.truth_whole && !s.whole {
                lines.push(format!(
                    "Scored against the truth the stream carried: {} of {} users, {} of {} exposures, {} of {} violations (their calls were sent).",
                    s.truth_carried.0, s.truth_whole.0, s.truth_carried.1, s.truth_whole.1, s.truth_carried.2, s.truth_whole.2
                ));
            } else if s.truth_carried != s.truth_whole {
                lines.push(format!(
                    "Scored against the whole truth, as a batch run is. The stream lacked the first exposing call of {} of {} exposures and {} of {} violating calls (a damaged copy: dropped or cut off): each counts as missed unless found through a later event, and is not timed.",
                    s.truth_whole.1 - s.truth_carried.1, s.truth_whole.1, s.truth_whole.2 - s.truth_carried.2, s.truth_whole.2
                ));
            }
            if let Some(v) = &s.view_as {
                lines.push(view_as_line(v));
            }
            blocks.push(Block::Lines(lines));
        }
        for d in &self.discovery {
            blocks.extend(discovery_blocks(d));
        }
        for n in &self.notes {
            blocks.push(Block::Paragraph(format!("Note: {n}.")));
        }
        Doc {
            title: format!("blastradius replay of `{}`", self.dataset),
            headline: Some(self.headline()),
            blocks,
            method: vec![format!(
                "`blastradius replay` of `{}`: events sent on the schedule asked for, findings read back on the same connection and matched to the truth by event id; latency is from the intended send time of the row that made each finding true (an exposing call, a violating call, a token's theft), so a replayer that falls behind is charged to the detector's latency, not hidden. `report.json` holds every number of this page; `latency.hgrm` the whole latency histogram.",
                self.dataset
            )]
            .into_iter()
            .chain((!self.discovery.is_empty()).then(|| {
                "Alarms (`{\"alarm\":{...}}` lines, data/README §14) are dated by the log time of the latest event sent when each came, never by the `fired_ts` they claim, and scored as `score` scores an alarms folder; the folders `alarms-<incident>/` hold them so dated, for `score` to check. Wall time to detect runs from the intended send time of the incident's first event to the arrival of the alarm that detected it.".to_string()
            }))
            .collect(),
        }
    }

    /// Whether findings are to be reported: some came, or no alarm did (a discovery
    /// detector's run sends only alarms, and its zero F1 would say nothing).
    fn scoping(&self) -> bool {
        self.findings > 0 || self.alarms == 0
    }

    /// The answer first: did the replay keep to its schedule, how fast were detections, how
    /// right was the end.
    fn headline(&self) -> String {
        let pace = match &self.stopped {
            Some(why) => format!("Stopped early ({why}) after {} events", self.events_sent),
            None if self.lag_ms.last > 1000.0 => format!(
                "Sent {} events at {:.2}M events/s but ended {:.1} s behind schedule",
                self.events_sent,
                self.events_per_second / 1e6,
                self.lag_ms.last / 1000.0
            ),
            None => format!(
                "Sent {} events at {:.2}M events/s, on schedule",
                self.events_sent,
                self.events_per_second / 1e6
            ),
        };
        let latency =
            self.latency_ms
                .as_ref()
                .filter(|l| l.all.count > 0)
                .map_or(String::new(), |l| {
                    format!(
                        "; first detections p50 {:.1} ms, p99 {:.1} ms",
                        l.all.p50, l.all.p99
                    )
                });
        let right = self
            .scores
            .as_ref()
            .filter(|_| self.scoping())
            .map_or(String::new(), |s| {
                let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
                let view_as = s.view_as.as_ref().map_or(String::new(), |v| {
                    format!(
                        ", View-As token F1 {}, View-As user F1 {}",
                        f(v.stolen_tokens.as_ref().and_then(|x| x.f1)),
                        f(v.view_as_users.as_ref().and_then(|x| x.f1))
                    )
                });
                format!(
                    "; at the end user F1 {}, exposure F1 {}, violation F1 {}{view_as}",
                    f(s.users.f1),
                    f(s.exposures.as_ref().and_then(|e| e.f1)),
                    f(s.violations.as_ref().and_then(|v| v.f1))
                )
            });
        let alarms = self
            .discovery
            .iter()
            .filter_map(|d| {
                let wall = d.wall.first()?.seconds?;
                let log = d.score.as_ref()?.curve.first()?.time_to_detect_seconds;
                Some(format!(
                    "; first {} alarm {:.3} s of wall time ({} of log time) after {}",
                    d.incident.as_str(),
                    wall,
                    duration(log),
                    onset_name(d.incident)
                ))
            })
            .collect::<String>();
        format!("{pace}{latency}{right}{alarms}.")
    }

    /// The report in words.
    pub fn to_markdown(&self) -> String {
        self.doc().to_markdown()
    }

    /// The charts: the schedule against what was sent, the lag and the detections' latency
    /// over the replay (a stall shows as an event in time), and latency by percentile.
    pub fn charts(&self) -> Vec<Chart> {
        let mut out = Vec::new();
        let t = &self.timeline;
        if t.len() > 1 {
            let over = |f: &dyn Fn(&TimelinePoint) -> Option<f64>| -> Vec<(f64, f64)> {
                t.iter().filter_map(|p| f(p).map(|y| (p.t_s, y))).collect()
            };
            out.push(Chart {
                title: "Send rate: the schedule and the replay".into(),
                x_label: "seconds since the replay began".into(),
                y_label: "events per second".into(),
                series: vec![
                    Series::new("asked for (schedule)", over(&|p| Some(p.intended_per_s))),
                    Series::new("sent", over(&|p| Some(p.sent_per_s))),
                ],
                y_range: Some((
                    0.0,
                    t.iter()
                        .map(|p| p.intended_per_s.max(p.sent_per_s))
                        .fold(1.0, f64::max)
                        * 1.1,
                )),
                ..Chart::default()
            });
            out.push(Chart {
                title: "Behind schedule over the replay".into(),
                x_label: "seconds since the replay began".into(),
                y_label: "most behind in the interval (ms)".into(),
                series: vec![Series::new("lag", over(&|p| Some(p.lag_max_ms)))],
                y_range: Some((
                    0.0,
                    t.iter().map(|p| p.lag_max_ms).fold(1.0, f64::max) * 1.1,
                )),
                ..Chart::default()
            });
            let latencies = over(&|p| p.latency_max_ms);
            if !latencies.is_empty() {
                out.push(Chart {
                    title: "Detection latency over the replay".into(),
                    x_label: "seconds since the replay began (when the finding came)".into(),
                    y_label: "slowest first detection in the interval (ms)".into(),
                    y_log: true,
                    x_range: Some((0.0, t.last().map_or(1.0, |p| p.t_s).max(0.1))),
                    series: vec![Series::new("first detections", latencies)],
                    ..Chart::default()
                });
            }
        }
        if let Some(h) = self.histogram.as_ref().filter(|h| !h.is_empty()) {
            let points: Vec<(f64, f64)> = [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999]
                .iter()
                .map(|&q| (1.0 / (1.0 - q), h.value_at_quantile(q) as f64 / 1000.0))
                .collect();
            out.push(Chart {
                title: "Detection latency by percentile".into(),
                x_label: "1/(1-percentile): 2 = p50, 100 = p99, 1000 = p99.9 (log scale)".into(),
                y_label: "ms from the call's intended send time".into(),
                x: Axis::Log,
                series: vec![Series::new("first detections", points)],
                ..Chart::default()
            });
        }
        out
    }

    /// Writes report.json, report.md, latency.hgrm and live.html under `out` (staged).
    ///
    /// # Errors
    /// An output that may not be written.
    pub fn write(
        &self,
        out: &std::path::Path,
        force: bool,
        input: &std::path::Path,
    ) -> Result<(), Error> {
        use blastradius_safefs::{Kind, Stage};
        let stage = Stage::begin(out, Kind::Output("replay"), force, "--out", &[input])?;
        let json = serde_json::to_string_pretty(self).expect("serializes") + "\n";
        let doc = self.doc();
        let (md, html) = (doc.to_markdown(), doc.to_html());
        for (name, text) in [
            ("report.json", json),
            ("report.md", md),
            ("latency.hgrm", self.hgrm()),
            ("live.html", html),
        ] {
            std::fs::write(stage.path().join(name), text).map_err(|e| Error::Input {
                path: out.join(name),
                message: format!("cannot write ({e})"),
            })?;
        }
        for d in &self.discovery {
            let meta = blastradius_analyzer::findings::Meta {
                detector: Some("live replay".into()),
                world: Some(self.world.clone()),
                ..Default::default()
            };
            blastradius_analyzer::discover::write_folder(
                &stage.path().join(&d.folder),
                &d.dated,
                d.incident,
                meta,
            )?;
        }
        stage.commit()?;
        Ok(())
    }
}

/// The View-As levels at the end of a replay, in words.
fn view_as_line(v: &crate::view_as_match::ViewAsScores) -> String {
    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
    let tiers = v.view_as_tiers.map_or(String::new(), |t| {
        format!(
            "; the last tier said was right for {} of the {} true users given one",
            t.agreed, t.compared
        )
    });
    let carried = if v.truth_carried == v.truth_whole {
        String::new()
    } else {
        format!(
            " The stream carried the theft of {} of the {} tokens taken.",
            v.truth_carried.0, v.truth_whole.0
        )
    };
    format!(
        "View-As: stolen-token F1 {}, user F1 {}{tiers} (\"–\": not reported).{carried}",
        f(v.stolen_tokens.as_ref().and_then(|x| x.f1)),
        f(v.view_as_users.as_ref().and_then(|x| x.f1)),
    )
}
