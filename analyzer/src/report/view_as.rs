//! The View-As incident's part of a report: its section (what was taken, each detector
//! against it, tokens taken per day by hop) and its line in the terminal table.

use std::collections::BTreeMap;

use blastradius_pages::doc::{Block, Column, Table};
use serde::Serialize;

use super::{DetectorReport, group, md_name, ratio};
use crate::score::Score;

/// The View-As incident of a report: the truth's size and spread (when scored), for the
/// section that shows it hop by hop.
#[derive(Debug, Default, Serialize)]
pub struct ViewAsReport {
    pub truth_tokens: Option<u64>,
    /// Affected users of the truth by tier.
    pub truth_users_by_tier: BTreeMap<String, u64>,
    /// Tokens taken per day (UTC), by hop, from the truth.
    pub days: Vec<ViewAsDay>,
}

/// Tokens taken on one day, by hop.
#[derive(Debug, Serialize)]
pub struct ViewAsDay {
    pub day: String,
    pub by_hop: BTreeMap<u32, u64>,
}

/// The View-As levels of a detector's terminal line, on a line of their own (empty when the
/// world has no such incident or the detector reports neither level).
pub(super) fn terminal(d: &DetectorReport) -> String {
    let Some(s) = &d.scores else {
        return String::new();
    };
    let short = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
    let level = |name: &str, l: &Option<Score>| {
        l.as_ref().map(|l| {
            format!(
                "{name} P {} R {} F1 {}",
                short(l.precision),
                short(l.recall),
                short(l.f1)
            )
        })
    };
    let mut parts: Vec<String> = [
        level("tokens", &s.stolen_tokens),
        level("users", &s.view_as_users),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(t) = s.view_as_tiers {
        parts.push(format!("tiers right {} of {}", t.agreed, t.compared));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("\n{:18} view-as: {}", "", parts.join("; "))
}

/// The View-As section: what was taken, each detector against it, and the spread.
pub(super) fn blocks(detectors: &[DetectorReport], v: &ViewAsReport) -> Vec<Block> {
    use blastradius_pages::chart::{Axis, Chart, Series};
    let mut blocks = vec![Block::Heading("The View-As incident".into())];
    let tier = |t: &str| group(v.truth_users_by_tier.get(t).copied().unwrap_or(0));
    blocks.push(Block::Paragraph(match v.truth_tokens {
        Some(n) => format!(
            "Tokens taken: {} ({} pivots, {} with contact and profile details read, {} with contact details read, {} with nothing read). A token is taken when the video uploader issues it to another account's session (data/README §13).",
            group(n),
            tier("pivot"),
            tier("contact_profile"),
            tier("contact"),
            tier("token_only")
        ),
        None => "Not scored: no truth was read.".into(),
    }));
    let scored: Vec<&DetectorReport> = detectors
        .iter()
        .filter(|d| {
            d.scores
                .as_ref()
                .is_some_and(|s| s.stolen_tokens.is_some() || s.view_as_users.is_some())
        })
        .collect();
    if !scored.is_empty() {
        let figure = |s: Option<&Score>, f: fn(&Score) -> Option<f64>| {
            s.map_or("–".into(), |s| ratio(f(s)))
        };
        let mut columns = vec![Column::text("detector")];
        for level in ["token", "user"] {
            for figure in ["P", "R", "F1"] {
                columns.push(Column::number(format!("{level} {figure}")));
            }
        }
        columns.push(Column::number("tiers right"));
        blocks.push(Block::Table(Table {
            caption: Some("The View-As incident against the truth".into()),
            columns,
            rows: scored
                .iter()
                .map(|d| {
                    let sc = d.scores.as_ref();
                    let mut row = vec![md_name(&d.detector)];
                    for level in [
                        sc.and_then(|s| s.stolen_tokens.as_ref()),
                        sc.and_then(|s| s.view_as_users.as_ref()),
                    ] {
                        row.push(figure(level, |s| s.precision));
                        row.push(figure(level, |s| s.recall));
                        row.push(figure(level, |s| s.f1));
                    }
                    row.push(sc.and_then(|s| s.view_as_tiers).map_or("–".into(), |t| {
                        format!("{} of {}", group(t.agreed), group(t.compared))
                    }));
                    row
                })
                .collect(),
        }));
    }
    if !v.days.is_empty() {
        let hops: std::collections::BTreeSet<u32> = v
            .days
            .iter()
            .flat_map(|d| d.by_hop.keys().copied())
            .collect();
        let labels: Vec<String> = v.days.iter().map(|d| d.day[5..].to_string()).collect();
        let top = v
            .days
            .iter()
            .flat_map(|d| d.by_hop.values())
            .copied()
            .max()
            .unwrap_or(1);
        blocks.push(Block::Charts(vec![Chart {
            title: "Tokens taken per day, by hop".into(),
            x_label: "day (UTC, month-day)".into(),
            y_label: "tokens taken".into(),
            x: Axis::Category(labels),
            series: hops
                .iter()
                .map(|h| {
                    Series::new(
                        format!("hop {h}"),
                        v.days
                            .iter()
                            .enumerate()
                            .map(|(i, d)| (i as f64, d.by_hop.get(h).copied().unwrap_or(0) as f64))
                            .collect(),
                    )
                })
                .collect(),
            y_range: Some((0.0, top as f64 * 1.15)),
            ..Chart::default()
        }]));
    }
    blocks
}
