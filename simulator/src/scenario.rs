//! Every rate of the simulated world, in one serde struct, with named presets.
//!
//! A scenario file is TOML. It may name the preset it starts from (`preset = "..."`, default
//! `facebook-2018`) and then overrides any subset of keys; an unknown key is an error that
//! names it, so a typo never silently leaves a rate at its default.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use blastradius_schema::time::parse_utc;

/// The names of the built-in presets; the first is the default.
pub const PRESETS: &[&str] = &["facebook-2018", "messaging-partners"];

/// Every parameter of a simulated world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name of the scenario (a preset name, or what a file calls itself).
    pub name: String,
    /// One line saying what the scenario models.
    pub description: String,
    pub period: Period,
    pub bug: Bug,
    pub catalog: Catalog,
    pub users: Users,
    pub photos: Photos,
    pub photo_apps: PhotoApps,
    pub messaging: Messaging,
}

/// The simulated period; API calls and in-period uploads fall inside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub start: String,
    pub end: String,
}

/// The deploys that introduce and fix the photo-API bug (`system` events in the log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bug {
    pub introduced: String,
    pub fixed: String,
}

/// Providers, their photo apps and the messaging partners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Developers owning the photo apps (each owns at least one).
    pub providers: u32,
    /// Apps requesting `user_photos`.
    pub photo_apps: u32,
    /// Zipf exponent of app popularity: weight of the app of rank r is 1 / r^s.
    pub app_popularity_exponent: f64,
    /// Zipf exponent of how the apps beyond the first are spread over providers.
    pub apps_per_provider_exponent: f64,
    /// Messaging partners, each with its own provider, requesting mailbox scopes.
    pub partners: Vec<Partner>,
}

/// A messaging partner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub name: String,
    pub category: String,
    /// Relative share of partner users who link this partner.
    pub weight: f64,
}

/// Users and their activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// How far back registrations go before the period starts, in days.
    pub history_days: u32,
    /// Share of users who register during the period.
    pub registering_in_period: f64,
    /// Sigma of the log-normal activity factor (mean 1); larger means heavier tail.
    pub activity_sigma: f64,
    /// Activity factors are capped at this multiple of the mean.
    pub activity_cap: f64,
}

/// Photos and their lifecycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Photos {
    /// Mean number of photos a user of activity 1 still has live when the period starts.
    pub live_at_start_mean: f64,
    /// Mean number of uploads during the period for a user of activity 1.
    pub uploads_mean: f64,
    /// Relative weights of the upload surfaces.
    pub surfaces: SurfaceWeights,
    /// Probability that a draft is published (it then becomes `timeline`).
    pub draft_publish_probability: f64,
    /// Mean delay before a draft is published, in hours (exponential).
    pub draft_publish_mean_hours: f64,
    /// A draft not published within this many hours is discarded (`photo_deleted`).
    pub draft_expiry_hours: f64,
    /// Stories are deleted this many hours after upload (0: they never expire).
    pub story_lifetime_hours: f64,
    /// Probability that any other photo is deleted by its owner during the period.
    pub delete_probability: f64,
}

/// Relative weights of the upload surfaces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurfaceWeights {
    pub timeline: f64,
    pub marketplace: f64,
    pub story: f64,
    pub draft: f64,
    pub messenger: f64,
}

/// Photo apps: grants, revokes and paginated calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoApps {
    /// Share of users who grant `user_photos` to at least one app.
    pub users_with_grant: f64,
    /// Mean number of further apps such a user grants (Poisson).
    pub extra_apps_mean: f64,
    /// Share of grants made before the period (the rest fall inside it).
    pub granted_before_period: f64,
    /// Probability that a grant is revoked during the period.
    pub revoke_probability: f64,
    /// Probability that a revoked grant is granted again later.
    pub regrant_probability: f64,
    /// Mean number of sync sessions an app runs per grant over the period (activity 1).
    pub sessions_mean: f64,
    /// Items per page.
    pub page_size: u32,
    /// An app stops after this many pages even if the last one was full.
    pub max_pages: u32,
    /// Delay between the pages of one session, in milliseconds.
    pub page_delay_ms: u32,
    /// Share of users for whom a random app calls without being granted (403 unless the
    /// user happens to have granted that app).
    pub ungranted_callers: f64,
    /// Probability that a call is rate limited (429).
    pub rate_limited: f64,
    /// Probability that a call fails on the server (500, 502 or 503).
    pub server_error: f64,
}

/// Messaging partners: mailbox grants, calls, and the leaks of the `messaging-partners` story.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messaging {
    /// Share of users who link a messaging partner (granting `read_mailbox`).
    pub users_with_partner: f64,
    /// Probability that a linking user also grants `write_mailbox`.
    pub write_probability: f64,
    /// Probability that a linking user also grants `delete_mailbox`.
    pub delete_probability: f64,
    /// Probability that the user later revokes all of the partner's scopes.
    pub revoke_probability: f64,
    /// Probability that a revoked partner's token keeps working (calls succeed: violations).
    pub token_survives_revoke: f64,
    /// Share of users whose mailbox a partner calls without any grant, successfully.
    pub ungranted_access: f64,
    /// Mean number of calls per linked user over the period (activity 1).
    pub calls_mean: f64,
    /// Relative weights of read, write and delete calls.
    pub actions: ActionWeights,
    /// Probability that a call is rate limited (429).
    pub rate_limited: f64,
    /// Probability that a call fails on the server (5xx).
    pub server_error: f64,
}

/// Relative weights of message-call actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionWeights {
    pub read: f64,
    pub write: f64,
    pub delete: f64,
}

/// The scenario's instants, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub start: i64,
    pub end: i64,
    pub bug_introduced: i64,
    pub bug_fixed: i64,
}

impl Scenario {
    /// The built-in preset called `name`.
    ///
    /// # Errors
    /// [`Error::UnknownScenario`] when no preset has that name.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "facebook-2018" => Ok(facebook_2018()),
            "messaging-partners" => Ok(messaging_partners()),
            _ => Err(Error::UnknownScenario(name.to_string())),
        }
    }

    /// Parses a scenario file: a preset (key `preset`, default `facebook-2018`) with any
    /// subset of its keys overridden.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming `origin` on malformed TOML, an unknown key, a value of the
    /// wrong type, or a value outside its range.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let fail = |message: String| Error::Scenario {
            origin: origin.to_string(),
            message,
        };
        let mut overrides: toml::Table =
            toml::from_str(text).map_err(|e: toml::de::Error| fail(one_line(&e, text)))?;
        let base_name = match overrides.remove("preset") {
            None => PRESETS[0].to_string(),
            Some(toml::Value::String(s)) => s,
            Some(_) => return Err(fail("`preset` must be a string".into())),
        };
        let base = Self::preset(&base_name).map_err(|e| fail(e.to_string()))?;
        let mut merged = toml::Table::try_from(&base).map_err(|e| fail(e.to_string()))?;
        merge(&mut merged, overrides);
        let scenario: Scenario = merged
            .try_into()
            .map_err(|e: toml::de::Error| fail(e.message().trim().to_string()))?;
        scenario.validate().map_err(fail)?;
        Ok(scenario)
    }

    /// The scenario as TOML, in the form [`Scenario::from_toml`] reads.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario always serializes")
    }

    /// The parsed instants of the period and the bug window.
    pub fn timeline(&self) -> Timeline {
        let t = |s: &str| parse_utc(s).expect("validated scenario");
        Timeline {
            start: t(&self.period.start),
            end: t(&self.period.end),
            bug_introduced: t(&self.bug.introduced),
            bug_fixed: t(&self.bug.fixed),
        }
    }

    /// Checks every value against its range and the instants against each other.
    ///
    /// # Errors
    /// A message naming the offending key and the accepted range.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let time = |key: &str, s: &str| parse_utc(s).map_err(|e| format!("{key}: {e}"));
        let start = time("period.start", &self.period.start)?;
        let end = time("period.end", &self.period.end)?;
        let intro = time("bug.introduced", &self.bug.introduced)?;
        let fixed = time("bug.fixed", &self.bug.fixed)?;
        if start >= end {
            return Err("period.start must be before period.end".into());
        }
        if !(start <= intro && intro < fixed && fixed <= end) {
            return Err(
                "the bug window must lie inside the period: period.start <= bug.introduced < bug.fixed <= period.end".into(),
            );
        }
        let c = &self.catalog;
        if c.providers == 0 || c.photo_apps < c.providers {
            return Err("catalog: need providers >= 1 and photo_apps >= providers (each provider owns an app)".into());
        }
        let probabilities = [
            (
                "users.registering_in_period",
                self.users.registering_in_period,
            ),
            (
                "photos.draft_publish_probability",
                self.photos.draft_publish_probability,
            ),
            ("photos.delete_probability", self.photos.delete_probability),
            (
                "photo_apps.users_with_grant",
                self.photo_apps.users_with_grant,
            ),
            (
                "photo_apps.granted_before_period",
                self.photo_apps.granted_before_period,
            ),
            (
                "photo_apps.revoke_probability",
                self.photo_apps.revoke_probability,
            ),
            (
                "photo_apps.regrant_probability",
                self.photo_apps.regrant_probability,
            ),
            (
                "photo_apps.ungranted_callers",
                self.photo_apps.ungranted_callers,
            ),
            ("photo_apps.rate_limited", self.photo_apps.rate_limited),
            ("photo_apps.server_error", self.photo_apps.server_error),
            (
                "messaging.users_with_partner",
                self.messaging.users_with_partner,
            ),
            (
                "messaging.write_probability",
                self.messaging.write_probability,
            ),
            (
                "messaging.delete_probability",
                self.messaging.delete_probability,
            ),
            (
                "messaging.revoke_probability",
                self.messaging.revoke_probability,
            ),
            (
                "messaging.token_survives_revoke",
                self.messaging.token_survives_revoke,
            ),
            (
                "messaging.ungranted_access",
                self.messaging.ungranted_access,
            ),
            ("messaging.rate_limited", self.messaging.rate_limited),
            ("messaging.server_error", self.messaging.server_error),
        ];
        for (key, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{key} = {p} is not a probability in [0, 1]"));
            }
        }
        if self.photo_apps.rate_limited + self.photo_apps.server_error > 1.0
            || self.messaging.rate_limited + self.messaging.server_error > 1.0
        {
            return Err("rate_limited + server_error must not exceed 1".into());
        }
        let non_negative = [
            ("catalog.app_popularity_exponent", c.app_popularity_exponent),
            (
                "catalog.apps_per_provider_exponent",
                c.apps_per_provider_exponent,
            ),
            ("users.activity_sigma", self.users.activity_sigma),
            ("photos.live_at_start_mean", self.photos.live_at_start_mean),
            ("photos.uploads_mean", self.photos.uploads_mean),
            (
                "photos.draft_publish_mean_hours",
                self.photos.draft_publish_mean_hours,
            ),
            (
                "photos.story_lifetime_hours",
                self.photos.story_lifetime_hours,
            ),
            (
                "photo_apps.extra_apps_mean",
                self.photo_apps.extra_apps_mean,
            ),
            ("photo_apps.sessions_mean", self.photo_apps.sessions_mean),
            ("messaging.calls_mean", self.messaging.calls_mean),
        ];
        for (key, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{key} = {v} must be a finite number >= 0"));
            }
        }
        if !(self.users.activity_cap.is_finite() && self.users.activity_cap >= 1.0) {
            return Err("users.activity_cap must be >= 1".into());
        }
        if !(self.photos.draft_expiry_hours > 0.0 && self.photos.draft_expiry_hours.is_finite()) {
            return Err("photos.draft_expiry_hours must be > 0".into());
        }
        if self.photo_apps.page_size == 0 || self.photo_apps.max_pages == 0 {
            return Err("photo_apps.page_size and photo_apps.max_pages must be >= 1".into());
        }
        let w = &self.photos.surfaces;
        let surfaces = [w.timeline, w.marketplace, w.story, w.draft, w.messenger];
        let a = &self.messaging.actions;
        for (key, weights) in [
            ("photos.surfaces", &surfaces[..]),
            ("messaging.actions", &[a.read, a.write, a.delete][..]),
        ] {
            if weights.iter().any(|x| !(x.is_finite() && *x >= 0.0))
                || weights.iter().sum::<f64>() <= 0.0
            {
                return Err(format!("{key}: weights must be >= 0 with a positive sum"));
            }
        }
        if self
            .catalog
            .partners
            .iter()
            .any(|p| !(p.weight.is_finite() && p.weight >= 0.0))
        {
            return Err("catalog.partners: weights must be >= 0".into());
        }
        if self.messaging.users_with_partner + self.messaging.ungranted_access > 0.0
            && self.catalog.partners.iter().map(|p| p.weight).sum::<f64>() <= 0.0
        {
            return Err("messaging is enabled but catalog.partners is empty".into());
        }
        Ok(())
    }
}

/// A TOML error as one line: the message and where it is (`line L, column C`).
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{message} at line {line}, column {column}")
        }
        None => message,
    }
}

fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn facebook_2018() -> Scenario {
    Scenario {
        name: "facebook-2018".into(),
        description: "The September 2018 photo-API bug: apps holding user_photos also saw \
                      marketplace, story and draft photos between two deploys."
            .into(),
        period: Period {
            start: "2018-08-01T00:00:00Z".into(),
            end: "2018-10-15T00:00:00Z".into(),
        },
        bug: Bug {
            introduced: "2018-09-13T00:00:00Z".into(),
            fixed: "2018-09-25T00:00:00Z".into(),
        },
        catalog: Catalog {
            providers: 876,
            photo_apps: 1500,
            app_popularity_exponent: 1.0,
            apps_per_provider_exponent: 1.1,
            partners: vec![
                partner("Music service", "music", 4.0),
                partner("Video service", "video", 2.0),
                partner("Bank", "finance", 1.0),
                partner("File storage", "storage", 1.0),
            ],
        },
        users: Users {
            history_days: 3650,
            registering_in_period: 0.03,
            activity_sigma: 1.0,
            activity_cap: 30.0,
        },
        photos: Photos {
            live_at_start_mean: 12.0,
            uploads_mean: 5.0,
            surfaces: SurfaceWeights {
                timeline: 0.64,
                marketplace: 0.01,
                story: 0.13,
                draft: 0.10,
                messenger: 0.12,
            },
            draft_publish_probability: 0.6,
            draft_publish_mean_hours: 8.0,
            draft_expiry_hours: 72.0,
            story_lifetime_hours: 24.0,
            delete_probability: 0.04,
        },
        photo_apps: PhotoApps {
            users_with_grant: 0.018,
            extra_apps_mean: 0.5,
            granted_before_period: 0.7,
            revoke_probability: 0.08,
            regrant_probability: 0.3,
            sessions_mean: 30.0,
            page_size: 25,
            max_pages: 4,
            page_delay_ms: 350,
            ungranted_callers: 0.002,
            rate_limited: 0.01,
            server_error: 0.003,
        },
        messaging: Messaging {
            users_with_partner: 0.01,
            write_probability: 0.5,
            delete_probability: 0.3,
            revoke_probability: 0.1,
            token_survives_revoke: 0.02,
            ungranted_access: 0.0,
            calls_mean: 10.0,
            actions: ActionWeights {
                read: 0.8,
                write: 0.15,
                delete: 0.05,
            },
            rate_limited: 0.01,
            server_error: 0.003,
        },
    }
}

fn messaging_partners() -> Scenario {
    let mut s = facebook_2018();
    s.name = "messaging-partners".into();
    s.description = "Messaging partners whose calls outlive the user's grant: tokens not \
                     invalidated on revocation, and mailboxes read without any grant."
        .into();
    s.messaging.users_with_partner = 0.05;
    s.messaging.revoke_probability = 0.3;
    s.messaging.token_survives_revoke = 0.6;
    s.messaging.ungranted_access = 0.01;
    s.messaging.calls_mean = 20.0;
    s
}

fn partner(name: &str, category: &str, weight: f64) -> Partner {
    Partner {
        name: name.into(),
        category: category.into(),
        weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip_through_toml() {
        for name in PRESETS {
            let s = Scenario::preset(name).unwrap();
            s.validate().unwrap();
            assert_eq!(
                Scenario::from_toml(&format!("preset = \"{name}\"\n{}", s.to_toml()), "t").unwrap(),
                s
            );
        }
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let s = Scenario::from_toml("[photo_apps]\npage_size = 10\n", "x.toml").unwrap();
        let mut expected = Scenario::preset("facebook-2018").unwrap();
        expected.photo_apps.page_size = 10;
        assert_eq!(s, expected);
        let m = Scenario::from_toml("preset = \"messaging-partners\"\n", "x.toml").unwrap();
        assert_eq!(m, Scenario::preset("messaging-partners").unwrap());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Scenario::from_toml("[photo_apps]\npage_sise = 10\n", "x.toml").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("page_sise") && text.contains("x.toml"),
            "{text}"
        );
    }

    #[test]
    fn out_of_range_values_are_named() {
        let e = Scenario::from_toml("[photo_apps]\nrate_limited = 1.5\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("photo_apps.rate_limited"), "{e}");
        let e =
            Scenario::from_toml("[bug]\nfixed = \"2018-12-01T00:00:00Z\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("bug window"), "{e}");
    }
}
