//! Providers, their apps, and the popularity tables users draw apps from.

use blastradius_schema::Scope;
use rand::Rng;

use crate::rng::{AliasTable, CATALOG, entity_rng};
use crate::scenario::Scenario;

/// A developer owning apps.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    pub provider_id: u32,
    pub name: String,
}

/// An app registered on the platform.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    pub app_id: u32,
    pub provider_id: u32,
    pub name: String,
    pub category: String,
    pub scopes: Vec<Scope>,
}

/// The fixed catalogue of a scenario: photo apps first (ids `0..photo_apps`), then one app per
/// messaging partner, each with its own provider after the photo-app providers.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub providers: Vec<Provider>,
    pub apps: Vec<App>,
    /// Number of photo apps; partner app `k` has id `photo_apps + k`.
    pub photo_apps: u32,
    photo_popularity: AliasTable,
    partner_popularity: Option<AliasTable>,
}

const CATEGORIES: &[&str] = &[
    "photo editing",
    "games",
    "quizzes",
    "printing",
    "dating",
    "social",
    "travel",
    "shopping",
    "collage",
    "backup",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ze", "pix", "nu", "ta", "vo", "li", "sa", "qu", "fo", "to", "be",
    "ri", "an", "el", "or", "um",
];
const SUFFIXES: &[&str] = &[
    "Labs", "Studio", "Apps", "Media", "Soft", "Games", "Inc", "Works",
];

fn name(rng: &mut impl Rng, words: usize) -> String {
    let mut s = String::new();
    for _ in 0..words {
        let w = SYLLABLES[(rng.next_u32() as usize) % SYLLABLES.len()];
        if s.is_empty() {
            let mut c = w.chars();
            s.extend(c.next().map(|c| c.to_ascii_uppercase()));
            s.push_str(c.as_str());
        } else {
            s.push_str(w);
        }
    }
    s
}

fn zipf_weights(n: usize, exponent: f64) -> Vec<f64> {
    (1..=n)
        .map(|rank| 1.0 / (rank as f64).powf(exponent))
        .collect()
}

/// A random permutation of `0..n` (Fisher–Yates).
fn permutation(rng: &mut impl Rng, n: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

impl Catalog {
    /// Builds the catalogue of `scenario` under `seed`. The same inputs give the same catalogue.
    pub fn new(scenario: &Scenario, seed: u64) -> Self {
        let c = &scenario.catalog;
        let mut rng = entity_rng(seed, CATALOG, 0);
        let (p, a) = (c.providers as usize, c.photo_apps as usize);

        let mut providers: Vec<Provider> = (0..p)
            .map(|i| Provider {
                provider_id: i as u32,
                name: format!(
                    "{} {}",
                    name(&mut rng, 2),
                    SUFFIXES[(rng.next_u32() as usize) % SUFFIXES.len()]
                ),
            })
            .collect();

        // Every provider owns one app; the rest go to a heavy-tailed few.
        let provider_rank = permutation(&mut rng, p);
        let extra = AliasTable::new(&zipf_weights(p, c.apps_per_provider_exponent));
        let mut owners: Vec<u32> = (0..p as u32).collect();
        owners.extend((p..a).map(|_| provider_rank[extra.sample(&mut rng)]));
        let shuffle = permutation(&mut rng, a);
        let mut apps: Vec<App> = (0..a)
            .map(|i| App {
                app_id: i as u32,
                provider_id: owners[shuffle[i] as usize],
                name: name(&mut rng, 3),
                category: CATEGORIES[(rng.next_u32() as usize) % CATEGORIES.len()].to_string(),
                scopes: vec![Scope::UserPhotos],
            })
            .collect();

        // Popularity rank is independent of the app id.
        let app_rank = permutation(&mut rng, a);
        let rank_weights = zipf_weights(a, c.app_popularity_exponent);
        let weights: Vec<f64> = (0..a).map(|i| rank_weights[app_rank[i] as usize]).collect();

        for (k, partner) in c.partners.iter().enumerate() {
            let provider_id = (p + k) as u32;
            providers.push(Provider {
                provider_id,
                name: partner.name.clone(),
            });
            apps.push(App {
                app_id: (a + k) as u32,
                provider_id,
                name: partner.name.clone(),
                category: partner.category.clone(),
                scopes: vec![
                    Scope::ReadMailbox,
                    Scope::WriteMailbox,
                    Scope::DeleteMailbox,
                ],
            });
        }
        let partner_weights: Vec<f64> = c.partners.iter().map(|p| p.weight).collect();
        let partner_popularity =
            (partner_weights.iter().sum::<f64>() > 0.0).then(|| AliasTable::new(&partner_weights));

        Catalog {
            providers,
            apps,
            photo_apps: a as u32,
            photo_popularity: AliasTable::new(&weights),
            partner_popularity,
        }
    }

    /// Draws a photo app by popularity.
    #[inline]
    pub fn draw_photo_app(&self, rng: &mut impl Rng) -> u32 {
        self.photo_popularity.sample(rng) as u32
    }

    /// Draws a messaging partner's app id by weight, if the scenario has partners.
    #[inline]
    pub fn draw_partner_app(&self, rng: &mut impl Rng) -> Option<u32> {
        self.partner_popularity
            .as_ref()
            .map(|t| self.photo_apps + t.sample(rng) as u32)
    }

    /// The provider of `app_id`.
    pub fn provider_of(&self, app_id: u32) -> u32 {
        self.apps[app_id as usize].provider_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_owns_an_app_and_counts_match_the_scenario() {
        let s = Scenario::preset("facebook-2018").unwrap();
        let c = Catalog::new(&s, 42);
        assert_eq!(c.providers.len(), 876 + 4);
        assert_eq!(c.apps.len(), 1500 + 4);
        let mut owned = vec![0u32; c.providers.len()];
        for app in &c.apps {
            owned[app.provider_id as usize] += 1;
        }
        assert!(owned.iter().all(|&n| n >= 1));
        let max = *owned.iter().max().unwrap();
        assert!(max > 5, "some provider should own many apps, max {max}");
    }

    #[test]
    fn popularity_is_heavy_tailed() {
        let s = Scenario::preset("facebook-2018").unwrap();
        let c = Catalog::new(&s, 1);
        let mut rng = entity_rng(1, crate::rng::USER, 0);
        let mut counts = vec![0u32; 1500];
        for _ in 0..200_000 {
            counts[c.draw_photo_app(&mut rng) as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top_15: u32 = counts[..15].iter().sum();
        // Zipf(1) over 1,500 apps: the top 1% of apps hold about 42% of the draws.
        assert!(top_15 as f64 / 200_000.0 > 0.35, "{top_15}");
    }

    #[test]
    fn same_seed_same_catalog() {
        let s = Scenario::preset("facebook-2018").unwrap();
        assert_eq!(Catalog::new(&s, 3).apps, Catalog::new(&s, 3).apps);
        assert_ne!(Catalog::new(&s, 3).apps, Catalog::new(&s, 4).apps);
    }
}
