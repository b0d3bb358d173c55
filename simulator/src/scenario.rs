//! Every rate of the simulated world, in one serde struct, with named presets.
//!
//! A scenario file is TOML. It may name the preset it starts from (`preset = "..."`, default
//! `facebook-2018`) and then overrides any subset of keys; an unknown key is an error that
//! names it, so a typo never silently leaves a rate at its default.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use blastradius_schema::time::parse_utc;

mod presets;

/// The names of the built-in presets; the first is the default.
pub const PRESETS: &[&str] = &[
    "facebook-2018",
    "messaging-partners",
    "shallow-paging",
    "view-as-2018",
];

/// Every parameter of a simulated world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name of the scenario (a preset name, or what a file calls itself).
    pub name: String,
    /// One line saying what the scenario models.
    pub description: String,
    /// `false` for a control world (`generate --no-incident`): the same world and traffic,
    /// with no incident ever happening: the bug never deploys, no partner's token outlives
    /// its revocation or reads without a grant, no View-As flaw or attack. Left out of a
    /// scenario's TOML when `true`, so every other world's bytes are as they were.
    #[serde(default = "incident_default", skip_serializing_if = "is_incident")]
    pub incident: bool,
    pub period: Period,
    pub bug: Bug,
    pub catalog: Catalog,
    pub users: Users,
    pub photos: Photos,
    pub photo_apps: PhotoApps,
    pub messaging: Messaging,
    /// The "View As" token theft over a friend graph; absent from the photo-API presets,
    /// whose datasets then hold none of its tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_as: Option<ViewAs>,
}

fn incident_default() -> bool {
    true
}

fn is_incident(incident: &bool) -> bool {
    *incident
}

/// The "View As" incident: a flaw that let a session mint a token for another account,
/// an attacker spreading through the friend graph with it, and the platform's background.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewAs {
    /// The deploy that put the video uploader on the "View As" page (may precede the period).
    pub flaw_introduced: String,
    /// The attack's first theft: the start of the "unusual spike of activity".
    pub attack_start: String,
    /// When the platform understood it was an attack (a figure of the story; no log event).
    pub identified: String,
    /// The deploy that fixed the flaw: no token is taken after it.
    pub flaw_fixed: String,
    /// When the platform reset the tokens (one system event).
    pub tokens_reset: String,
    pub graph: FriendGraph,
    pub attack: Attack,
    pub background: Background,
}

/// The friend graph (see `graph.rs`): log-normal weights on a ring, friends by distance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendGraph {
    /// The median of the users' weights, about the median degree.
    pub median_degree: f64,
    /// Sigma of the log-normal weights; larger means a heavier tail.
    pub degree_sigma: f64,
    /// Weights are capped here, and no degree exceeds twice `reach`.
    pub max_degree: u32,
    /// Friends sit at most this far apart on the ring of user ids (near friends) or on a
    /// shuffled ring (far friends).
    pub reach: u32,
    /// Share of a user's friends drawn on the shuffled ring: friends from elsewhere.
    pub far_share: f64,
}

/// The attacker: its accounts, its budget, and what it read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    /// Accounts the attacker controls (hop 0), where the spread starts.
    pub accounts: u32,
    /// The attack stops once this share of users has a token taken.
    pub stolen_share: f64,
    /// At most this share of users is used as a pivot (profile loaded, friends taken).
    pub pivot_share: f64,
    /// Share of a pivot's friends whose tokens are taken from it.
    pub friends_taken: f64,
    /// The deepest hop a token is taken at: pivots are taken at most one hop less (3: the
    /// attacker's friends and friends of friends are pivots, their friends the last hop).
    pub max_hops: u32,
    /// Relative weights of what was read with a taken token (pivots excepted).
    pub contact: f64,
    pub contact_profile: f64,
    pub token_only: f64,
    /// Source networks the attacker's sessions come from.
    pub networks: u32,
}

/// The ordinary traffic the attack hides in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Background {
    /// Mean logins (each a session with its own token) per user over the period.
    pub logins_mean: f64,
    /// Mean profile reads per session (the user's own profile or a friend's).
    pub reads_mean: f64,
    /// Share of users who look at their own profile "as" a friend during the period.
    pub view_as_share: f64,
    /// Share of sessions that post a video through the uploader (a token for oneself).
    pub uploader_share: f64,
    /// Source networks ordinary sessions come from.
    pub networks: u32,
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

/// The error for a scenario called `name` that is no preset.
pub fn unknown(name: &str) -> Error {
    Error::UnknownScenario {
        name: name.to_string(),
        presets: PRESETS.join(", "),
    }
}

impl Scenario {
    /// The built-in preset called `name`.
    ///
    /// # Errors
    /// [`Error::UnknownScenario`] when no preset has that name.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "facebook-2018" => Ok(presets::facebook_2018()),
            "messaging-partners" => Ok(presets::messaging_partners()),
            "shallow-paging" => Ok(presets::shallow_paging()),
            "view-as-2018" => Ok(presets::view_as_2018()),
            _ => Err(unknown(name)),
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
        // A `[view_as]` section over a preset without one must be whole; if it is not, say
        // which preset to start from rather than which field is missing.
        let partial_view_as = base.view_as.is_none().then(|| overrides.get("view_as")).flatten().map(|section| {
            let mut keys = Vec::new();
            dotted("view_as", section, &mut keys);
            format!(
                "{}: the preset {base_name} has no View-As incident to change; start from one with `preset = \"view-as-2018\"`",
                keys.join(", ")
            )
        });
        let mut merged = toml::Table::try_from(&base).map_err(|e| fail(e.to_string()))?;
        merge(&mut merged, overrides);
        let scenario: Scenario = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| {
                let key = e.path().to_string();
                if key.starts_with("view_as")
                    && let Some(message) = &partial_view_as
                {
                    return fail(message.clone());
                }
                fail(format!(
                    "{key}: {}",
                    e.inner().message().trim().replace('\n', " ")
                ))
            })?;
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

    /// Checks every value against its range (the ranges are in `data/README.md` and in
    /// [`RANGES`]) and the instants against each other. The ranges keep every run finite:
    /// no count, span or timestamp can grow past what the generator's arithmetic and memory
    /// are sized for.
    ///
    /// # Errors
    /// A message naming the offending key and the accepted range.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let time = |key: &str, s: &str| -> std::result::Result<i64, String> {
            let t = parse_utc(s).map_err(|e| format!("{key}: {e}"))?;
            if !(EARLIEST..=LATEST).contains(&t) {
                return Err(format!(
                    "{key} = {s} is outside the supported years 1900 to 2199"
                ));
            }
            Ok(t)
        };
        let start = time("period.start", &self.period.start)?;
        let end = time("period.end", &self.period.end)?;
        let intro = time("bug.introduced", &self.bug.introduced)?;
        let fixed = time("bug.fixed", &self.bug.fixed)?;
        if start >= end {
            return Err("period.start must be before period.end".into());
        }
        if end - start > MAX_PERIOD_DAYS * blastradius_schema::time::DAY {
            return Err(format!(
                "the period lasts more than {MAX_PERIOD_DAYS} days; shorten it"
            ));
        }
        if !(start <= intro && intro < fixed && fixed <= end) {
            return Err(
                "the bug window must lie inside the period: period.start <= bug.introduced < bug.fixed <= period.end".into(),
            );
        }
        if (end - start) < blastradius_schema::time::DAY * 2 {
            return Err("the period must last at least 2 days".into());
        }
        for (key, value) in self.values() {
            let range = RANGES
                .iter()
                .find(|r| r.key == key)
                .expect("every value has a range");
            if !(value.is_finite() && range.min <= value && value <= range.max) {
                return Err(format!(
                    "{key} = {value} is out of range: it must lie in [{}, {}] ({})",
                    range.min, range.max, range.what
                ));
            }
        }
        let c = &self.catalog;
        if c.photo_apps < c.providers {
            return Err("catalog: need photo_apps >= providers (each provider owns an app)".into());
        }
        if self.photos.draft_expiry_hours <= 0.0 {
            return Err("photos.draft_expiry_hours must be > 0".into());
        }
        if self.photo_apps.rate_limited + self.photo_apps.server_error > 1.0
            || self.messaging.rate_limited + self.messaging.server_error > 1.0
        {
            return Err("rate_limited + server_error must not exceed 1".into());
        }
        let w = &self.photos.surfaces;
        let surfaces = [w.timeline, w.marketplace, w.story, w.draft, w.messenger];
        let a = &self.messaging.actions;
        for (key, weights) in [
            ("photos.surfaces", &surfaces[..]),
            ("messaging.actions", &[a.read, a.write, a.delete][..]),
        ] {
            if weights.iter().sum::<f64>() <= 0.0 {
                return Err(format!("{key}: weights must have a positive sum"));
            }
        }
        if c.partners.len() > MAX_PARTNERS {
            return Err(format!("catalog.partners: at most {MAX_PARTNERS} partners"));
        }
        if self
            .catalog
            .partners
            .iter()
            .any(|p| !(p.weight.is_finite() && (0.0..=1e6).contains(&p.weight)))
        {
            return Err("catalog.partners: each weight must lie in [0, 1000000]".into());
        }
        if self.messaging.users_with_partner + self.messaging.ungranted_access > 0.0
            && self.catalog.partners.iter().map(|p| p.weight).sum::<f64>() <= 0.0
        {
            return Err("messaging is enabled but catalog.partners is empty".into());
        }
        if let Some(v) = &self.view_as {
            let flaw = time("view_as.flaw_introduced", &v.flaw_introduced)?;
            let attack = time("view_as.attack_start", &v.attack_start)?;
            let identified = time("view_as.identified", &v.identified)?;
            let fixed = time("view_as.flaw_fixed", &v.flaw_fixed)?;
            let reset = time("view_as.tokens_reset", &v.tokens_reset)?;
            if !(flaw <= attack && start <= attack && attack < fixed && fixed <= end) {
                return Err("view_as: need view_as.flaw_introduced <= view_as.attack_start < view_as.flaw_fixed, the attack inside the period (period.start <= view_as.attack_start, view_as.flaw_fixed <= period.end)".into());
            }
            if !(attack <= identified && identified <= fixed && fixed <= reset && reset <= end) {
                return Err("view_as: need view_as.attack_start <= view_as.identified <= view_as.flaw_fixed <= view_as.tokens_reset <= period.end".into());
            }
            if start - flaw > MAX_PERIOD_DAYS * blastradius_schema::time::DAY {
                return Err(format!(
                    "view_as.flaw_introduced lies more than {MAX_PERIOD_DAYS} days before the period"
                ));
            }
            let a = &v.attack;
            if a.contact + a.contact_profile + a.token_only <= 0.0 {
                return Err("view_as.attack: contact, contact_profile and token_only must have a positive sum".into());
            }
            if a.pivot_share > a.stolen_share {
                return Err("view_as.attack.pivot_share must not exceed stolen_share (every pivot's token is taken)".into());
            }
        }
        Ok(())
    }

    /// Every number of the scenario by key, as `f64`, for the range check.
    fn values(&self) -> Vec<(&'static str, f64)> {
        let (c, u, p, a, m) = (
            &self.catalog,
            &self.users,
            &self.photos,
            &self.photo_apps,
            &self.messaging,
        );
        let (w, x) = (&p.surfaces, &m.actions);
        let mut values = vec![
            ("catalog.providers", c.providers as f64),
            ("catalog.photo_apps", c.photo_apps as f64),
            ("catalog.app_popularity_exponent", c.app_popularity_exponent),
            (
                "catalog.apps_per_provider_exponent",
                c.apps_per_provider_exponent,
            ),
            ("users.history_days", u.history_days as f64),
            ("users.registering_in_period", u.registering_in_period),
            ("users.activity_sigma", u.activity_sigma),
            ("users.activity_cap", u.activity_cap),
            ("photos.live_at_start_mean", p.live_at_start_mean),
            ("photos.uploads_mean", p.uploads_mean),
            ("photos.surfaces.timeline", w.timeline),
            ("photos.surfaces.marketplace", w.marketplace),
            ("photos.surfaces.story", w.story),
            ("photos.surfaces.draft", w.draft),
            ("photos.surfaces.messenger", w.messenger),
            (
                "photos.draft_publish_probability",
                p.draft_publish_probability,
            ),
            (
                "photos.draft_publish_mean_hours",
                p.draft_publish_mean_hours,
            ),
            ("photos.draft_expiry_hours", p.draft_expiry_hours),
            ("photos.story_lifetime_hours", p.story_lifetime_hours),
            ("photos.delete_probability", p.delete_probability),
            ("photo_apps.users_with_grant", a.users_with_grant),
            ("photo_apps.extra_apps_mean", a.extra_apps_mean),
            ("photo_apps.granted_before_period", a.granted_before_period),
            ("photo_apps.revoke_probability", a.revoke_probability),
            ("photo_apps.regrant_probability", a.regrant_probability),
            ("photo_apps.sessions_mean", a.sessions_mean),
            ("photo_apps.page_size", a.page_size as f64),
            ("photo_apps.max_pages", a.max_pages as f64),
            ("photo_apps.page_delay_ms", a.page_delay_ms as f64),
            ("photo_apps.ungranted_callers", a.ungranted_callers),
            ("photo_apps.rate_limited", a.rate_limited),
            ("photo_apps.server_error", a.server_error),
            ("messaging.users_with_partner", m.users_with_partner),
            ("messaging.write_probability", m.write_probability),
            ("messaging.delete_probability", m.delete_probability),
            ("messaging.revoke_probability", m.revoke_probability),
            ("messaging.token_survives_revoke", m.token_survives_revoke),
            ("messaging.ungranted_access", m.ungranted_access),
            ("messaging.calls_mean", m.calls_mean),
            ("messaging.actions.read", x.read),
            ("messaging.actions.write", x.write),
            ("messaging.actions.delete", x.delete),
            ("messaging.rate_limited", m.rate_limited),
            ("messaging.server_error", m.server_error),
        ];
        if let Some(v) = &self.view_as {
            let (g, k, b) = (&v.graph, &v.attack, &v.background);
            values.extend([
                ("view_as.graph.median_degree", g.median_degree),
                ("view_as.graph.degree_sigma", g.degree_sigma),
                ("view_as.graph.max_degree", g.max_degree as f64),
                ("view_as.graph.reach", g.reach as f64),
                ("view_as.graph.far_share", g.far_share),
                ("view_as.attack.accounts", k.accounts as f64),
                ("view_as.attack.stolen_share", k.stolen_share),
                ("view_as.attack.pivot_share", k.pivot_share),
                ("view_as.attack.friends_taken", k.friends_taken),
                ("view_as.attack.max_hops", k.max_hops as f64),
                ("view_as.attack.contact", k.contact),
                ("view_as.attack.contact_profile", k.contact_profile),
                ("view_as.attack.token_only", k.token_only),
                ("view_as.attack.networks", k.networks as f64),
                ("view_as.background.logins_mean", b.logins_mean),
                ("view_as.background.reads_mean", b.reads_mean),
                ("view_as.background.view_as_share", b.view_as_share),
                ("view_as.background.uploader_share", b.uploader_share),
                ("view_as.background.networks", b.networks as f64),
            ]);
        }
        values
    }
}

/// The earliest and latest instants a scenario may name: years 1900 to 2199.
const EARLIEST: i64 = -2_208_988_800_000_000;
const LATEST: i64 = 7_258_118_400_000_000 - 1;
/// The longest period: about 30 years.
const MAX_PERIOD_DAYS: i64 = 11_000;
const MAX_PARTNERS: usize = 1_000;

/// The accepted range of one scenario number, and why it is bounded there.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub key: &'static str,
    pub min: f64,
    pub max: f64,
    pub what: &'static str,
}

const fn range(key: &'static str, min: f64, max: f64, what: &'static str) -> Range {
    Range {
        key,
        min,
        max,
        what,
    }
}

const P: &str = "a probability";
const W: &str = "a relative weight";
/// Means of counts are capped where a single draw is (10,000), so a user's events always
/// fit the 2^24 event ids of its range.
const COUNT: &str = "a mean count per user";
const HOURS: &str = "hours, at most 10 years";

/// The ranges as a Markdown table (`blastradius scenario ranges`, and data/README.md).
pub fn ranges_markdown() -> String {
    let number = |x: f64| {
        if x == x.trunc() && x.abs() < 1e15 {
            let digits = format!("{}", x as i64);
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        } else {
            format!("{x}")
        }
    };
    let mut md = String::from("| key | min | max | what |\n|---|---:|---:|---|\n");
    for r in RANGES {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.key,
            number(r.min),
            number(r.max),
            r.what
        ));
    }
    md
}

/// Every scenario number's accepted range, checked before any work starts.
pub const RANGES: &[Range] = &[
    range("catalog.providers", 1.0, 100_000.0, "developers"),
    range("catalog.photo_apps", 1.0, 1_000_000.0, "apps"),
    range(
        "catalog.app_popularity_exponent",
        0.0,
        10.0,
        "a Zipf exponent",
    ),
    range(
        "catalog.apps_per_provider_exponent",
        0.0,
        10.0,
        "a Zipf exponent",
    ),
    range(
        "users.history_days",
        0.0,
        36_500.0,
        "days, at most 100 years",
    ),
    range("users.registering_in_period", 0.0, 1.0, P),
    range("users.activity_sigma", 0.0, 5.0, "a log-normal sigma"),
    range("users.activity_cap", 1.0, 1_000.0, "a multiple of the mean"),
    range("photos.live_at_start_mean", 0.0, 10_000.0, COUNT),
    range("photos.uploads_mean", 0.0, 10_000.0, COUNT),
    range("photos.surfaces.timeline", 0.0, 1e6, W),
    range("photos.surfaces.marketplace", 0.0, 1e6, W),
    range("photos.surfaces.story", 0.0, 1e6, W),
    range("photos.surfaces.draft", 0.0, 1e6, W),
    range("photos.surfaces.messenger", 0.0, 1e6, W),
    range("photos.draft_publish_probability", 0.0, 1.0, P),
    range("photos.draft_publish_mean_hours", 0.0, 87_600.0, HOURS),
    range("photos.draft_expiry_hours", 0.0, 87_600.0, HOURS),
    range("photos.story_lifetime_hours", 0.0, 87_600.0, HOURS),
    range("photos.delete_probability", 0.0, 1.0, P),
    range("photo_apps.users_with_grant", 0.0, 1.0, P),
    range(
        "photo_apps.extra_apps_mean",
        0.0,
        10.0,
        "a mean count of apps",
    ),
    range("photo_apps.granted_before_period", 0.0, 1.0, P),
    range("photo_apps.revoke_probability", 0.0, 1.0, P),
    range("photo_apps.regrant_probability", 0.0, 1.0, P),
    range("photo_apps.sessions_mean", 0.0, 10_000.0, COUNT),
    range("photo_apps.page_size", 1.0, 1_000.0, "photos per page"),
    range("photo_apps.max_pages", 1.0, 100.0, "pages per session"),
    range(
        "photo_apps.page_delay_ms",
        0.0,
        3_600_000.0,
        "milliseconds, at most an hour",
    ),
    range("photo_apps.ungranted_callers", 0.0, 1.0, P),
    range("photo_apps.rate_limited", 0.0, 1.0, P),
    range("photo_apps.server_error", 0.0, 1.0, P),
    range("messaging.users_with_partner", 0.0, 1.0, P),
    range("messaging.write_probability", 0.0, 1.0, P),
    range("messaging.delete_probability", 0.0, 1.0, P),
    range("messaging.revoke_probability", 0.0, 1.0, P),
    range("messaging.token_survives_revoke", 0.0, 1.0, P),
    range("messaging.ungranted_access", 0.0, 1.0, P),
    range("messaging.calls_mean", 0.0, 10_000.0, COUNT),
    range("messaging.actions.read", 0.0, 1e6, W),
    range("messaging.actions.write", 0.0, 1e6, W),
    range("messaging.actions.delete", 0.0, 1e6, W),
    range("messaging.rate_limited", 0.0, 1.0, P),
    range("messaging.server_error", 0.0, 1.0, P),
    range(
        "view_as.graph.median_degree",
        1.0,
        1_000.0,
        "friends (a median weight)",
    ),
    range("view_as.graph.degree_sigma", 0.0, 3.0, "a log-normal sigma"),
    range("view_as.graph.max_degree", 1.0, 5_000.0, "friends"),
    range(
        "view_as.graph.reach",
        1.0,
        5_000.0,
        "users on each side of the ring (the work per user grows with it)",
    ),
    range("view_as.graph.far_share", 0.0, 1.0, "a share of friends"),
    range("view_as.attack.accounts", 0.0, 1_000.0, "accounts"),
    range("view_as.attack.stolen_share", 0.0, 1.0, "a share of users"),
    range("view_as.attack.pivot_share", 0.0, 1.0, "a share of users"),
    range(
        "view_as.attack.friends_taken",
        0.0,
        1.0,
        "a share of friends",
    ),
    range(
        "view_as.attack.max_hops",
        1.0,
        1_000.0,
        "hops from the attacker's accounts",
    ),
    range("view_as.attack.contact", 0.0, 1e6, W),
    range("view_as.attack.contact_profile", 0.0, 1e6, W),
    range("view_as.attack.token_only", 0.0, 1e6, W),
    range("view_as.attack.networks", 1.0, 1_000_000.0, "networks"),
    range("view_as.background.logins_mean", 0.0, 1_000.0, COUNT),
    range(
        "view_as.background.reads_mean",
        0.0,
        100.0,
        "reads per session",
    ),
    range(
        "view_as.background.view_as_share",
        0.0,
        1.0,
        "a share of users",
    ),
    range("view_as.background.uploader_share", 0.0, 1.0, P),
    range("view_as.background.networks", 1.0, 1e9, "networks"),
];

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

/// The dotted keys set under `value` (a table), as `prefix.key.leaf`.
fn dotted(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                dotted(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => out.push(prefix.to_string()),
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

    // Issue 13: values that passed validation and then exhausted memory or overflowed.
    #[test]
    fn extreme_values_are_refused_before_any_work() {
        for (toml, key) in [
            ("[users]\nhistory_days = 100000000\n", "users.history_days"),
            ("[users]\nhistory_days = 4294967295\n", "users.history_days"),
            (
                "[photos]\ndraft_expiry_hours = 1e300\n",
                "photos.draft_expiry_hours",
            ),
            (
                "[photos]\nstory_lifetime_hours = 1e15\n",
                "photos.story_lifetime_hours",
            ),
            (
                "[photo_apps]\nmax_pages = 1000000\n",
                "photo_apps.max_pages",
            ),
            ("[photos]\nuploads_mean = nan\n", "photos.uploads_mean"),
        ] {
            let e = Scenario::from_toml(toml, "x.toml").unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("out of range"), "{toml}: {e}");
        }
        let e = Scenario::from_toml("[period]\nstart = \"1200-01-01T00:00:00Z\"\n", "x.toml")
            .unwrap_err();
        assert!(e.to_string().contains("period.start"), "{e}");
    }

    #[test]
    fn type_errors_name_their_key() {
        let e = Scenario::from_toml("[photo_apps]\npage_size = -5\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("photo_apps.page_size"), "{e}");
        let e = Scenario::from_toml("[users]\nactivity_cap = \"high\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("users.activity_cap"), "{e}");
    }

    #[test]
    fn every_number_has_a_documented_range() {
        let s = Scenario::preset("view-as-2018").unwrap();
        for (key, _) in s.values() {
            assert!(RANGES.iter().any(|r| r.key == key), "{key}");
        }
        assert_eq!(s.values().len(), RANGES.len());
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
