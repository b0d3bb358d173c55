//! The sentence a page opens with, where it ranks detectors by their worst cell: each
//! detector's lowest F1 and where it fell, or that it failed, or that it was perfect.

/// One scored (or failed) cell of one detector: where it is (`on`, in words, e.g.
/// "facebook-2018 damaged") and its F1 per level (`None`: the level is not reported).
pub struct Cell<'a> {
    pub detector: &'a str,
    pub on: String,
    pub failed: bool,
    /// Per level: user, exposure, violation, and the View-As levels (stolen-token,
    /// View-As user) where the world has that incident.
    pub f1: [(&'static str, Option<f64>); 5],
}

/// "`d`: lowest exposure F1 0.941 on X; `e`: F1 1.000 at every level …": a clause per
/// detector, in the order of `detectors`; `on` joins a level to its place ("on", "under").
pub fn lowest_f1<'a>(
    detectors: &[String],
    cells: impl IntoIterator<Item = Cell<'a>>,
    on: &str,
) -> String {
    let cells: Vec<Cell> = cells.into_iter().collect();
    let said: Vec<String> = detectors
        .iter()
        .map(|d| {
            let mine = cells.iter().filter(|c| c.detector == d);
            let failed = mine.clone().filter(|c| c.failed).count();
            let worst = mine
                .filter(|c| !c.failed)
                .flat_map(|c| {
                    c.f1.iter()
                        .filter_map(move |(level, f)| Some((f.as_ref()?, *level, c)))
                })
                .min_by(|a, b| a.0.total_cmp(b.0));
            match worst {
                _ if failed > 0 => format!("`{d}` failed in {failed} of its runs"),
                Some((f, _, _)) if *f >= 0.9995 => {
                    format!("`{d}`: F1 1.000 at every level it reports")
                }
                Some((f, level, c)) => format!("`{d}`: lowest {level} F1 {f:.3} {on} {}", c.on),
                None => format!("`{d}`: nothing scored"),
            }
        })
        .collect();
    format!("{}.", said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_detector_is_named_by_its_worst_cell() {
        let cell = |d, on: &str, failed, user, exposure| Cell {
            detector: d,
            on: on.to_string(),
            failed,
            f1: [
                ("user", user),
                ("exposure", exposure),
                ("violation", None),
                ("stolen-token", None),
                ("View-As user", None),
            ],
        };
        let cells = [
            cell("exact", "a", false, Some(1.0), Some(1.0)),
            cell("exact", "b", false, Some(1.0), Some(1.0)),
            cell("naive", "a", false, Some(0.4), None),
            cell("naive", "b damaged", false, Some(0.35), None),
            cell("mine", "a", true, None, None),
            cell("streaming", "b", false, Some(0.99), Some(0.9)),
        ];
        let names: Vec<String> = ["exact", "naive", "mine", "streaming", "idle"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            lowest_f1(&names, cells, "on"),
            "`exact`: F1 1.000 at every level it reports; `naive`: lowest user F1 0.350 on b damaged; `mine` failed in 1 of its runs; `streaming`: lowest exposure F1 0.900 on b; `idle`: nothing scored."
        );
    }
}
