//! One colour and marker per detector, the same on every page: a reader who learned that
//! `exact` is the blue ring on the report finds it as the blue ring on the stress sweep, the
//! leaderboard and the live rating.

/// The palette position of the truth where it is drawn beside detectors (black).
pub const TRUTH: usize = crate::chart::PALETTE_SIZE - 1;

/// The built-in detectors, in the palette's order (position = colour and marker).
const BUILT_IN: &[&str] = &["exact", "naive", "streaming", "sql"];

/// The palette position of the built-in detector `name`, or of its live form (`exact
/// (incremental)`, `streaming (incremental, 512 MiB)`); `None` for any other name.
fn built_in(name: &str) -> Option<usize> {
    BUILT_IN.iter().position(|b| {
        name == *b
            || name
                .strip_prefix(b)
                .is_some_and(|rest| rest.starts_with(" (incremental"))
    })
}

/// The palette positions of the detectors `names` on one page: the built-in ones keep theirs
/// on every page; the others (outside detectors) take [`style_of`]'s, or, when an earlier
/// one on the page has it, the next free one, so that two outside detectors on a page are
/// told apart whenever the palette has room.
pub fn assign<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let outside = TRUTH - BUILT_IN.len();
    let mut taken: Vec<usize> = names.iter().filter_map(|n| built_in(n.as_ref())).collect();
    names
        .iter()
        .map(|n| {
            let n = n.as_ref();
            if let Some(k) = built_in(n) {
                return k;
            }
            let wanted = style_of(n);
            let free = (0..outside)
                .map(|j| BUILT_IN.len() + (wanted - BUILT_IN.len() + j) % outside)
                .find(|k| !taken.contains(k))
                .unwrap_or(wanted);
            taken.push(free);
            free
        })
        .collect()
}

/// The palette position of the detector called `name` alone: the built-in ones keep theirs
/// (a live contender such as `exact (incremental)` is its detector's); any other name gets
/// one of the positions between them and the truth's, chosen from its name, so that it too
/// is the same on every page (see [`assign`] for a page of several).
pub fn style_of(name: &str) -> usize {
    if let Some(k) = built_in(name) {
        return k;
    }
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    BUILT_IN.len() + (hash % (TRUTH - BUILT_IN.len()) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detector_keeps_its_style_whatever_page_or_suffix() {
        assert_eq!(style_of("exact"), 0);
        assert_eq!(style_of("exact (incremental)"), 0);
        assert_eq!(style_of("streaming (incremental, 512 MiB)"), 2);
        assert_eq!(style_of("sql"), 3);
        let outside = style_of("paging-blind");
        assert!(
            (4..TRUTH).contains(&outside),
            "never a built-in's nor the truth's"
        );
        assert_eq!(outside, style_of("paging-blind"), "stable");
        // An outside detector that takes a built-in's name with a suffix is not it.
        assert!(style_of("exact (v2)") >= 4);
    }

    #[test]
    fn two_outside_detectors_on_a_page_differ() {
        // Two names that want the same position.
        let names: Vec<String> = (0..20).map(|i| format!("mine-{i}")).collect();
        let (a, b) = names
            .iter()
            .flat_map(|a| names.iter().map(move |b| (a, b)))
            .find(|(a, b)| a != b && style_of(a) == style_of(b))
            .unwrap();
        let styles = assign(&["exact", a.as_str(), "naive", b.as_str()]);
        assert_eq!((styles[0], styles[2]), (0, 1));
        assert_ne!(styles[1], styles[3], "{styles:?}");
        assert!(
            [styles[1], styles[3]]
                .iter()
                .all(|k| (4..TRUTH).contains(k))
        );
    }
}
