//! One colour and marker per detector, the same on every page: a reader who learned that
//! `exact` is the blue ring on the report finds it as the blue ring on the stress sweep, the
//! leaderboard and the live rating.

/// The palette position of the truth where it is drawn beside detectors (black).
pub const TRUTH: usize = crate::chart::PALETTE_SIZE - 1;

/// The built-in detectors, in the palette's order (position = colour and marker).
const BUILT_IN: &[&str] = &["exact", "naive", "streaming", "sql"];

/// The palette position of the detector called `name`: the built-in ones keep theirs (a
/// live contender such as `exact (incremental)` is its detector's); any other name (an
/// outside detector) gets one of the positions left between them and the truth's, chosen
/// from its name, so that it too is the same on every page.
pub fn style_of(name: &str) -> usize {
    let base = name.split(" (").next().unwrap_or(name).trim();
    if let Some(k) = BUILT_IN.iter().position(|b| *b == base) {
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
    }
}
