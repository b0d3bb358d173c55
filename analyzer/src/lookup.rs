//! The help-center answer for one user: affected or not, which apps saw which photos (on which
//! surface, first when), and which apps hold a photo grant now.
//!
//! Fast on any dataset size: the user's shard follows from the contract's split of users
//! (`blastradius_schema::shard_users`), so only that shard's files are read, and within it
//! only the `user_id` column is decoded for every row; the other columns are decoded for the
//! user's rows alone (the log reader's lookup mode, `read_part_of_user`).

use std::collections::BTreeMap;
use std::time::Instant;

use blastradius_schema::time::format_utc;
use blastradius_schema::{Kind, Scope, Surface, col, path};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::export::{Row, Source};
use blastradius_dataset::Dataset;
use blastradius_dataset::log::{ShardLog, read_part_of_user};

use crate::output::Catalog;

/// One app that saw one photo.
#[derive(Clone, Debug, Serialize)]
pub struct Seen {
    pub app_id: u32,
    pub app: String,
    pub provider: String,
    pub photo_id: u64,
    pub surface: Option<String>,
    pub first_exposed: Option<String>,
}

/// One partner's calls of one kind on the user's mailbox without a grant (the messaging
/// incident), and why none was there.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxAccess {
    pub app_id: u32,
    pub app: String,
    pub provider: String,
    pub action: String,
    /// Calls of this action without a grant.
    pub calls: u64,
    pub first: String,
    pub last: String,
    /// `revoked`: the user had granted the scope and taken it back (a token that outlived
    /// the revocation); `never granted`: the user never granted it to this partner.
    pub cause: String,
}

/// An app holding a grant of the user's now (at the end of the log).
#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub app_id: u32,
    pub app: String,
    pub scope: String,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub user_id: u64,
    pub affected: bool,
    /// Where the exposures come from: the truth, an answer key, or findings.
    pub source: String,
    /// Distinct photos of the user's that apps saw (one photo seen by three apps is one).
    pub photos_exposed: u64,
    /// Each (app, photo) pair: a photo seen by three apps is three copies to delete.
    pub exposures: Vec<Seen>,
    /// Mailbox calls without a grant, per partner, action and cause.
    pub mailbox: Vec<MailboxAccess>,
    /// What the source does not say, when the answer is from findings (a level or column
    /// they lack), in words.
    pub not_in_source: Vec<String>,
    /// Apps holding `user_photos` now: what they can see is the timeline.
    pub photo_grants_now: Vec<Grant>,
    /// Other grants held now (mailbox scopes).
    pub other_grants_now: Vec<Grant>,
    /// The user's live photos at the end of the log, by surface.
    pub live_photos: BTreeMap<String, u64>,
    /// The View-As incident, in a world that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as: Option<ViewAsAnswer>,
    pub milliseconds: f64,
}

/// The View-As answer, as the platform's help center gave it: whether the user's token was
/// taken, and what was accessed with it.
#[derive(Clone, Debug, Serialize)]
pub struct ViewAsAnswer {
    pub affected: bool,
    /// `pivot`, `contact_profile`, `contact` or `token_only`; `None` when the source names
    /// the user without a tier.
    pub tier: Option<String>,
    /// The field groups read with the token (from the truth; from findings, what the tier
    /// implies).
    pub accessed: Vec<String>,
    /// When the token was taken, through whose account, at which hop (the truth's).
    pub taken: Option<String>,
    pub through: Option<u64>,
    pub hop: Option<u32>,
}

/// The View-As answer for `user` from `source` (`None` outside a View-As world).
fn view_as_answer(
    dataset: &Dataset,
    catalog: &Catalog,
    source: &Source,
    user: u64,
) -> Result<Option<ViewAsAnswer>> {
    let Some(a) = crate::view_as::answers(dataset, catalog, source)? else {
        return Ok(None);
    };
    let taken = a.taken.get(&user);
    Ok(Some(match a.users.get(&user) {
        None => ViewAsAnswer {
            affected: false,
            tier: None,
            accessed: Vec::new(),
            taken: None,
            through: None,
            hop: None,
        },
        Some((tier, groups)) => ViewAsAnswer {
            affected: true,
            tier: tier.map(|t| t.as_str().into()),
            accessed: groups.iter().map(|g| g.as_str().to_string()).collect(),
            taken: taken.map(|x| format_utc(x.0)),
            through: taken.map(|x| x.2),
            hop: taken.map(|x| x.1),
        },
    }))
}

/// What a field group holds, in the help center's words.
fn described(group: &str) -> &'static str {
    match group {
        "contact" => "name and contact details (phone number, email, as on the profile)",
        "profile" => {
            "profile details (username, gender, locale, relationship status, religion, hometown, current city, birth date, devices, education, work, recent check-ins, website, people and Pages followed, recent searches)"
        }
        "timeline" => "timeline posts",
        "friends" => "the friend list",
        "groups" => "groups",
        "conversations" => "names of recent Messenger conversations",
        _ => "fields the contract does not name",
    }
}

/// Answers for `user` of the dataset at `root`.
///
/// # Errors
/// A user the dataset does not have, an unreadable or damaged shard, a key of another
/// dataset, findings that break the contract.
pub fn lookup(root: &std::path::Path, user: u64, source: &Source) -> Result<Answer> {
    let started = Instant::now();
    let dataset = Dataset::open(root)?;
    let m = &dataset.manifest;
    if m.users > 0 && user >= m.users {
        return Err(Error::dataset(
            root,
            format!(
                "has no user {user}: its users are 0 to {}",
                m.users.saturating_sub(1)
            ),
        ));
    }
    let catalog = Catalog::read(&dataset)?;
    let parts = dataset.parts(path::EVENTS_DIR);
    let entry = parts
        .iter()
        .find(|e| {
            dataset
                .shard_users(e)
                .is_some_and(|range| range.contains(&user))
        })
        .ok_or_else(|| {
            Error::dataset(
                root,
                format!(
                    "holds no events shard for user {user} (a one-shard dataset of other users?)"
                ),
            )
        })?;
    let answers = crate::export::answers(&dataset, &catalog, source, Some(user))?;
    let mut not_in_source = answers.missing.clone();
    // Findings that name affected users without their exposures.
    let named = answers
        .named_users
        .as_ref()
        .is_some_and(|u| u.contains(&user));
    let exposures: Vec<Row> = answers.exposures.unwrap_or_default();
    let violations = answers.violations.unwrap_or_default();
    // The one log reader, in its lookup mode: the user's rows alone, checked as every read
    // is.
    let mut log = ShardLog::default();
    read_part_of_user(
        &dataset,
        entry,
        user,
        &[
            col::EVENT_ID,
            col::TS,
            col::KIND,
            col::APP_ID,
            col::PHOTO_ID,
            col::SURFACE,
            col::SCOPE,
        ],
        &mut log,
    )?;
    struct Event {
        ts: i64,
        id: u64,
        kind: Kind,
        app: u32,
        photo: u64,
        surface: Option<Surface>,
        scope: Option<Scope>,
    }
    let mut events: Vec<Event> = (0..log.len())
        .map(|i| Event {
            ts: log.ts[i],
            id: log.event_id[i],
            kind: log.kind[i],
            app: log.app_id[i],
            photo: log.photo_id[i],
            surface: Some(log.surface[i]),
            scope: Some(log.scope[i]),
        })
        .collect();
    events.sort_by_key(|e| (e.ts, e.id));
    // The violations are the source's (deduplicated; on a damaged copy the truth's may not
    // all be in the log): grouped per partner, action and cause. The cause is the log's: had
    // the user granted that partner that scope before the call (a token that outlived a
    // revocation), or never.
    let granted: Vec<(i64, u64, u32, Scope)> = events
        .iter()
        .filter(|e| e.kind == Kind::PermissionGranted)
        .filter_map(|e| Some((e.ts, e.id, e.app, e.scope?)))
        .collect();
    let mut mailbox: BTreeMap<(u32, &'static str, &'static str), (u64, i64, i64)> = BTreeMap::new();
    for v in &violations {
        let scope = v.action.scope();
        let before = granted
            .iter()
            .any(|g| g.2 == v.app_id && g.3 == scope && (g.0, g.1) < (v.ts, v.event_id));
        let cause = if before { "revoked" } else { "never granted" };
        let g = mailbox
            .entry((v.app_id, v.action.as_str(), cause))
            .or_insert((0, v.ts, v.ts));
        *g = (g.0 + 1, g.1.min(v.ts), g.2.max(v.ts));
    }
    let mut grants: Vec<(u32, Scope)> = Vec::new();
    let mut live: BTreeMap<u64, Surface> = BTreeMap::new();
    for e in &events {
        match e.kind {
            Kind::PermissionGranted => {
                if let Some(s) = e.scope
                    && !grants.contains(&(e.app, s))
                {
                    grants.push((e.app, s));
                }
            }
            Kind::PermissionRevoked => grants.retain(|g| Some(g.1) != e.scope || g.0 != e.app),
            Kind::PhotoUploaded => {
                live.insert(e.photo, e.surface.unwrap_or(Surface::Timeline));
            }
            Kind::PhotoPublished => {
                if let Some(s) = live.get_mut(&e.photo) {
                    *s = Surface::Timeline;
                }
            }
            Kind::PhotoDeleted => {
                live.remove(&e.photo);
            }
            _ => {}
        }
    }
    let app_name = |a: u32| {
        catalog
            .apps
            .get(&a)
            .map_or_else(|| "?".into(), |x| x.name.clone())
    };
    let provider_name = |a: u32| {
        catalog
            .providers
            .get(&catalog.provider_of(a))
            .cloned()
            .unwrap_or_else(|| "?".into())
    };
    grants.sort();
    let grant = |&(app, scope): &(u32, Scope)| Grant {
        app_id: app,
        app: app_name(app),
        scope: scope.as_str().into(),
    };
    let mut live_photos = BTreeMap::new();
    for s in live.values() {
        *live_photos.entry(s.as_str().to_string()).or_default() += 1;
    }
    let photos_exposed = exposures
        .iter()
        .map(|r| r.photo_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let view_as = view_as_answer(&dataset, &catalog, source, user)?;
    if view_as.is_none()
        && blastradius_dataset::access::has_access_log(&dataset)
        && matches!(source, Source::Findings(_))
    {
        not_in_source.extend(crate::view_as::unanswered(&dataset, source, &None));
    }
    Ok(Answer {
        user_id: user,
        affected: !exposures.is_empty()
            || !mailbox.is_empty()
            || named
            || view_as.as_ref().is_some_and(|v| v.affected),
        view_as,
        photos_exposed,
        mailbox: mailbox
            .into_iter()
            .map(
                |((app, action, cause), (calls, first, last))| MailboxAccess {
                    app_id: app,
                    app: app_name(app),
                    provider: provider_name(app),
                    action: action.into(),
                    calls,
                    first: format_utc(first),
                    last: format_utc(last),
                    cause: cause.into(),
                },
            )
            .collect(),
        not_in_source,
        source: match source {
            Source::Truth => "the dataset's truth".into(),
            Source::Key(k) => format!("the answer key {}", k.display()),
            Source::Findings(d) => format!("the findings {}", d.display()),
        },
        exposures: exposures
            .iter()
            .map(|r| Seen {
                app_id: r.app_id,
                app: app_name(r.app_id),
                provider: provider_name(r.app_id),
                photo_id: r.photo_id,
                surface: r.surface.map(|s| s.as_str().into()),
                first_exposed: r.first_exposed_ts.map(format_utc),
            })
            .collect(),
        photo_grants_now: grants
            .iter()
            .filter(|g| g.1 == Scope::UserPhotos)
            .map(grant)
            .collect(),
        other_grants_now: grants
            .iter()
            .filter(|g| g.1 != Scope::UserPhotos)
            .map(grant)
            .collect(),
        live_photos,
        milliseconds: started.elapsed().as_secs_f64() * 1000.0,
    })
}

impl Answer {
    /// The answer in words, as a help center would give it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        use std::fmt::Write;
        let apps: std::collections::BTreeSet<u32> =
            self.exposures.iter().map(|e| e.app_id).collect();
        let view_as_only = self.view_as.as_ref().is_some_and(|v| v.affected)
            && self.exposures.is_empty()
            && self.mailbox.is_empty();
        if view_as_only {
            let tier = self.view_as.as_ref().and_then(|v| v.tier.as_ref());
            let _ = writeln!(
                s,
                "User {} {} ({}){}",
                self.user_id,
                match tier {
                    Some(_) => "was affected by the View-As token theft",
                    // A rule that names users without tokens (the precautionary one).
                    None => "is named as possibly affected by the View-As token theft",
                },
                self.source,
                if self.not_in_source.is_empty() {
                    "; no app saw a photo of theirs off the timeline, and no partner used their mailbox without a grant."
                } else {
                    "."
                }
            );
        } else if !self.affected && self.not_in_source.is_empty() {
            let _ = writeln!(
                s,
                "User {} was not affected: no app saw a photo of theirs that was not on the timeline, and no partner used their mailbox without a grant ({}).",
                self.user_id, self.source
            );
        } else if !self.affected {
            let _ = writeln!(
                s,
                "User {} is not named in what {} answers (which is not everything: see below).",
                self.user_id, self.source
            );
        } else if self.exposures.is_empty() && self.mailbox.is_empty() {
            let _ = writeln!(
                s,
                "User {} is named as affected by {}, which gives no apps or photos.",
                self.user_id, self.source
            );
        } else if self.exposures.is_empty() {
            let _ = writeln!(
                s,
                "User {} was affected: partners used their mailbox without a grant ({}).",
                self.user_id, self.source
            );
        } else {
            let _ = writeln!(
                s,
                "User {} was affected: {} photo(s) not on the timeline were seen by {} app(s), {} copies in all ({}).",
                self.user_id,
                self.photos_exposed,
                apps.len(),
                self.exposures.len(),
                self.source
            );
        }
        for e in &self.exposures {
            let _ = writeln!(
                s,
                "  {} ({}, by {}) saw photo {} on {}, first at {}",
                e.app,
                e.app_id,
                e.provider,
                e.photo_id,
                e.surface
                    .as_deref()
                    .unwrap_or("a surface the source does not give"),
                e.first_exposed
                    .as_deref()
                    .unwrap_or("a time the source does not give")
            );
        }
        for m in &self.mailbox {
            let _ = writeln!(
                s,
                "  {} ({}, by {}) made {} {} call(s) on their mailbox without a grant ({}), from {} to {}",
                m.app, m.app_id, m.provider, m.calls, m.action, m.cause, m.first, m.last
            );
        }
        for n in &self.not_in_source {
            let _ = writeln!(s, "Not answered: {n}.");
        }
        if let Some(v) = &self.view_as {
            if !v.affected && self.source.starts_with("the findings") {
                let _ = writeln!(
                    s,
                    "View As: {} do not name user {}.",
                    self.source, self.user_id
                );
            } else if !v.affected {
                let _ = writeln!(
                    s,
                    "View As: user {} was not affected: no access token of theirs was taken.",
                    self.user_id
                );
            } else {
                let mut line = match v.tier {
                    // A rule that names users, not tokens (the precautionary one).
                    None => format!("View As: user {} is named as affected", self.user_id),
                    Some(_) => format!("View As: user {}'s access token was taken", self.user_id),
                };
                if let Some(t) = &v.taken {
                    line.push_str(&format!(" at {t}"));
                }
                if let (Some(p), Some(h)) = (v.through, v.hop) {
                    line.push_str(&format!(" through the account of user {p} (hop {h})"));
                }
                line.push('.');
                let _ = writeln!(s, "{line}");
                match v.tier.as_deref() {
                    None => {
                        let _ = writeln!(s, "  The source does not say what was accessed with it.");
                    }
                    Some(_) if v.accessed.is_empty() => {
                        let _ = writeln!(s, "  Nothing was accessed with it.");
                    }
                    Some(tier) => {
                        for g in &v.accessed {
                            let _ = writeln!(s, "  Accessed: {}.", described(g));
                        }
                        if tier == "pivot" {
                            let _ = writeln!(
                                s,
                                "  Their account was used to take the tokens of friends."
                            );
                        }
                    }
                }
            }
        }
        if self.photo_grants_now.is_empty() {
            let _ = writeln!(s, "No app holds a photo grant now.");
        } else {
            let _ = writeln!(
                s,
                "Apps holding a photo grant now (they can see the timeline photos): {}.",
                self.photo_grants_now
                    .iter()
                    .map(|g| format!("{} ({})", g.app, g.app_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for g in &self.other_grants_now {
            let _ = writeln!(s, "{} ({}) holds {} now.", g.app, g.app_id, g.scope);
        }
        let live: Vec<String> = self
            .live_photos
            .iter()
            .map(|(k, v)| format!("{v} on {k}"))
            .collect();
        let _ = writeln!(
            s,
            "Live photos now: {}.",
            if live.is_empty() {
                "none".into()
            } else {
                live.join(", ")
            }
        );
        s
    }
}
