//! The View-As incident's detectors, over the access log (data/README §13): `exact` applies
//! the four rules of the contract; the precautionary rule (the `naive` detector's form here)
//! is what the platform's reset did: everyone viewed "as" while the flaw lived.
//!
//! Both read the log alone (never the simulator's model) and write the findings tables
//! `stolen_tokens` and `view_as_users`, which [`crate::findings::load`] reads back as it reads
//! any detector's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use blastradius_dataset::access::AccessRow;
use blastradius_schema::{AccessKind, FieldGroup, Tier, TokenPath};

use crate::error::{Error, Result};

/// A token a detector says was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenFinding {
    pub token_id: u64,
    pub user_id: u64,
    pub ts: i64,
    pub event_id: u64,
    pub hop: u32,
    pub pivot_id: u64,
}

/// A user a detector says was affected; the tier when it can tell, and the field groups
/// read (a bit per [`FieldGroup`] index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFinding {
    pub user_id: u64,
    pub tier: Option<Tier>,
    pub groups: u8,
}

/// What a View-As detector found.
#[derive(Clone, Debug, Default)]
pub struct ViewAsOutput {
    /// `None` for a rule that does not name tokens.
    pub tokens: Option<Vec<TokenFinding>>,
    /// By user.
    pub users: Vec<UserFinding>,
    /// Rows delivered twice (the same `event_id`), counted once.
    pub duplicates: u64,
}

/// A detector's form for the View-As incident.
pub type Form = fn(Vec<AccessRow>) -> ViewAsOutput;

/// The rows once each: a row delivered twice has the same `event_id` and every column equal.
/// The platform's own events are in every shard by design; only user rows seen twice count
/// as damage.
fn unique(mut rows: Vec<AccessRow>) -> (Vec<AccessRow>, u64) {
    rows.sort_unstable_by_key(|r| (r.event_id, r.ts));
    let mut duplicates = 0;
    rows.dedup_by(|a, b| {
        let same = a.event_id == b.event_id;
        duplicates += (same && !a.kind.is_system()) as u64;
        same
    });
    (rows, duplicates)
}

/// The four rules of data/README §13, on the log alone: tokens issued by the video uploader
/// to another account's session were taken (rule 1), one hop past the token that session used
/// (rule 2); what was read with them (rule 3) decides each owner's tier (rule 4). Order-free:
/// late or reordered rows change nothing; a lost row loses what only it showed.
pub fn exact(rows: Vec<AccessRow>) -> ViewAsOutput {
    // Every rule is a set or a union, so a row seen twice changes nothing: the rows the rules
    // use are deduplicated only to count the damage (a full sort of the log would cost more
    // than the rules).
    let issued: Vec<AccessRow> = rows
        .iter()
        .filter(|r| {
            r.kind == AccessKind::TokenIssued
                && r.path == Some(TokenPath::VideoUploader)
                && r.target_id != r.user_id
        })
        .copied()
        .collect();
    let (issued, mut duplicates) = unique(issued);
    // Rule 1. A token taken twice (never, in a world) counts from its first taking.
    let mut taken: HashMap<u64, (TokenFinding, Option<u64>)> = HashMap::new();
    for r in &issued {
        let t = TokenFinding {
            token_id: r.issued_token_id,
            user_id: r.target_id,
            ts: r.ts,
            event_id: r.event_id,
            hop: 1,
            pivot_id: r.user_id,
        };
        taken
            .entry(r.issued_token_id)
            .and_modify(|e| {
                if (t.ts, t.event_id) < (e.0.ts, e.0.event_id) {
                    *e = (t, r.token_id);
                }
            })
            .or_insert((t, r.token_id));
    }
    // Rule 2: follow each token's chain of parents back to one that was not taken (a loop,
    // which no world has, stops after as many steps as there are tokens).
    let hops: HashMap<u64, u32> = taken
        .keys()
        .map(|&token| {
            let (mut hop, mut at) = (1u32, token);
            while let Some(parent) = taken.get(&at).and_then(|e| e.1)
                && taken.contains_key(&parent)
                && (hop as usize) <= taken.len()
            {
                hop += 1;
                at = parent;
            }
            (token, hop)
        })
        .collect();
    // Rule 3: what was read with each taken token, for its owner.
    let mut groups: BTreeMap<u64, u8> = BTreeMap::new();
    for e in taken.values() {
        groups.entry(e.0.user_id).or_default();
    }
    let reads: Vec<AccessRow> = rows
        .iter()
        .filter(|r| {
            r.kind == AccessKind::ProfileRead && r.token_id.is_some_and(|t| taken.contains_key(&t))
        })
        .copied()
        .collect();
    drop(rows);
    let (reads, twice) = unique(reads);
    duplicates += twice;
    for r in &reads {
        if let (Some(token), Some(g)) = (r.token_id, r.field_group)
            && let Some(e) = taken.get(&token)
        {
            *groups.entry(e.0.user_id).or_default() |= 1 << g.index();
        }
    }
    // Rule 4: a pivot's taken token took others.
    let pivots: std::collections::HashSet<u64> = taken
        .values()
        .filter_map(|e| e.1)
        .filter_map(|parent| taken.get(&parent).map(|p| p.0.user_id))
        .collect();
    let users = groups
        .into_iter()
        .map(|(user, g)| UserFinding {
            user_id: user,
            tier: Some(tier_of(pivots.contains(&user), g)),
            groups: g,
        })
        .collect();
    let mut tokens: Vec<TokenFinding> = taken
        .into_values()
        .map(|(mut t, _)| {
            t.hop = hops[&t.token_id];
            t
        })
        .collect();
    tokens.sort_unstable_by_key(|t| (t.user_id, t.ts, t.token_id));
    ViewAsOutput {
        tokens: Some(tokens),
        users,
        duplicates,
    }
}

/// Rule 4's tier from whether the user was a pivot and the groups read.
pub fn tier_of(pivot: bool, groups: u8) -> Tier {
    let has = |g: FieldGroup| groups & (1 << g.index()) != 0;
    if pivot {
        Tier::Pivot
    } else if has(FieldGroup::Profile) {
        Tier::ContactProfile
    } else if has(FieldGroup::Contact) {
        Tier::Contact
    } else {
        Tier::TokenOnly
    }
}

/// The platform's precautionary rule: every user viewed "as" (the `target_id` of a
/// `view_as` row) while the flaw lived, between the log's `flaw_introduced` and `flaw_fixed`
/// (the whole log when it lacks one of them). Names no token and no tier.
pub fn precautionary(rows: Vec<AccessRow>) -> ViewAsOutput {
    let used: Vec<AccessRow> = rows
        .into_iter()
        .filter(|r| r.kind == AccessKind::ViewAs || r.kind.is_system())
        .collect();
    let (rows, duplicates) = unique(used);
    let at = |kind| rows.iter().filter(|r| r.kind == kind).map(|r| r.ts).min();
    let from = at(AccessKind::FlawIntroduced).unwrap_or(i64::MIN);
    let to = at(AccessKind::FlawFixed).unwrap_or(i64::MAX);
    let users: std::collections::BTreeSet<u64> = rows
        .iter()
        .filter(|r| r.kind == AccessKind::ViewAs && (from..to).contains(&r.ts))
        .map(|r| r.target_id)
        .collect();
    ViewAsOutput {
        tokens: None,
        users: users
            .into_iter()
            .map(|user_id| UserFinding {
                user_id,
                tier: None,
                groups: 0,
            })
            .collect(),
        duplicates,
    }
}

/// What the incremental form learns from one row: a token taken, or an affected user's tier
/// (said when the user is first known, and again whenever the tier rises).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    Token(u64),
    User(u64, Tier),
}

/// `exact`'s View-As form one row at a time, for a live stream: rules 1 to 4 as rows come.
/// Rule 1 needs the row alone, and a pivot is known whichever of its two thefts comes first;
/// a read (rule 3) counts once the theft of its token has been seen, so in arrival order a
/// read delivered before its theft is missed (an allowed lateness puts them back in order).
/// Memory follows the tokens taken, not the log.
#[derive(Debug, Default)]
pub struct Incremental {
    /// Per token taken: its owner.
    taken: HashMap<u64, u64>,
    /// Every token a rule-1 row's session used (rule 4's pivots, once their theft is seen).
    used_to_take: std::collections::HashSet<u64>,
    /// Per affected user: the groups read, whether a pivot, the tier last said.
    users: HashMap<u64, (u8, bool, Tier)>,
}

impl Incremental {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `r`; appends to `out` what it makes known.
    pub fn push(&mut self, r: &AccessRow, out: &mut Vec<Learned>) {
        match r.kind {
            AccessKind::TokenIssued
                if r.path == Some(TokenPath::VideoUploader) && r.target_id != r.user_id =>
            {
                if let Some(parent) = r.token_id {
                    self.used_to_take.insert(parent);
                    if let Some(&owner) = self.taken.get(&parent) {
                        self.update(owner, 0, true, out);
                    }
                }
                // A token taken twice (never, in a world) keeps its first owner.
                let token = r.issued_token_id;
                if let std::collections::hash_map::Entry::Vacant(v) = self.taken.entry(token) {
                    v.insert(r.target_id);
                    out.push(Learned::Token(token));
                    let pivot = self.used_to_take.contains(&token);
                    self.update(r.target_id, 0, pivot, out);
                }
            }
            AccessKind::ProfileRead => {
                if let (Some(token), Some(g)) = (r.token_id, r.field_group)
                    && let Some(&owner) = self.taken.get(&token)
                {
                    self.update(owner, 1 << g.index(), false, out);
                }
            }
            _ => {}
        }
    }

    /// Adds what `user` is now known for; says the user when first known or the tier rose.
    fn update(&mut self, user: u64, groups: u8, pivot: bool, out: &mut Vec<Learned>) {
        let mut fresh = false;
        let e = self.users.entry(user).or_insert_with(|| {
            fresh = true;
            (0, false, Tier::TokenOnly)
        });
        e.0 |= groups;
        e.1 |= pivot;
        let tier = tier_of(e.1, e.0);
        if fresh || tier != e.2 {
            e.2 = tier;
            out.push(Learned::User(user, tier));
        }
    }

    /// Tokens known to be taken.
    pub fn tokens(&self) -> usize {
        self.taken.len()
    }
}

/// What a source (the truth, an answer key, or findings) says of the View-As incident, per
/// user: the tier (when it gives one) and the field groups read (from findings, what the tier
/// implies), and from the truth the token's taking (when, hop, through whom).
#[derive(Debug, Default)]
pub struct Answers {
    pub users: BTreeMap<u64, (Option<Tier>, Vec<FieldGroup>)>,
    pub taken: BTreeMap<u64, (i64, u32, u64)>,
}

/// What an export or a lookup says it cannot answer when `source` is findings without
/// `view_as_users` in a View-As world (`None` otherwise).
pub fn unanswered(
    dataset: &blastradius_dataset::Dataset,
    source: &crate::export::Source,
    answers: &Option<Answers>,
) -> Option<String> {
    (blastradius_dataset::access::has_access_log(dataset)
        && matches!(source, crate::export::Source::Findings(_))
        && answers.is_none())
    .then(|| "the findings hold no view_as_users: the View-As incident is not answered".to_string())
}

/// The field groups a tier implies were read (all of them for a pivot, whose profile was
/// loaded as it sees it).
pub fn implied(tier: Option<Tier>) -> Vec<FieldGroup> {
    match tier {
        Some(Tier::Pivot) => FieldGroup::ALL.to_vec(),
        Some(Tier::ContactProfile) => vec![FieldGroup::Contact, FieldGroup::Profile],
        Some(Tier::Contact) => vec![FieldGroup::Contact],
        Some(Tier::TokenOnly) | None => Vec::new(),
    }
}

/// The View-As answers of `source` for `dataset`: `None` outside a View-As world, or for
/// findings that hold no `view_as_users`.
///
/// # Errors
/// An unreadable truth, a key of another dataset, findings that break the contract.
pub fn answers(
    dataset: &blastradius_dataset::Dataset,
    catalog: &crate::output::Catalog,
    source: &crate::export::Source,
) -> Result<Option<Answers>> {
    use crate::export::Source;
    if !blastradius_dataset::access::has_access_log(dataset) {
        return Ok(None);
    }
    let truth = match source {
        // The View-As tables alone: the photo truth is read by the caller when it needs it.
        Source::Truth => crate::score::Truth::read_view_as(dataset, None)?,
        Source::Key(k) => crate::score::Truth::read_view_as(dataset, Some(k))?,
        Source::Findings(dir) => {
            let universe = crate::analyze::universe(dataset, catalog);
            let found = crate::findings::load(dir, &universe)?;
            return Ok(found.view_as_users.map(|users| Answers {
                users: users
                    .into_iter()
                    .map(|(u, tier)| (u, (tier, implied(tier))))
                    .collect(),
                taken: BTreeMap::new(),
            }));
        }
    };
    Ok(truth.map(|v| Answers {
        users: v
            .users
            .into_iter()
            .map(|(u, (tier, groups))| (u, (Some(tier), groups)))
            .collect(),
        taken: v
            .tokens
            .values()
            .map(|&(user, ts, hop, pivot)| (user, (ts, hop, pivot)))
            .collect(),
    }))
}

/// Writes `found` under `dir` as the findings tables `stolen_tokens.parquet` (when it names
/// tokens) and `view_as_users.parquet`, in the truth's shapes; returns the files written.
///
/// # Errors
/// When a file cannot be written.
pub fn write(dir: &Path, found: &ViewAsOutput) -> Result<Vec<PathBuf>> {
    use crate::output::{ts_array, write_table};
    use arrow::array::{ArrayRef, ListBuilder, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    use blastradius_schema::arrays::{int32, int64};
    use blastradius_schema::{col, stolen_tokens_schema};
    use std::sync::Arc;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut written = Vec::new();
    if let Some(t) = &found.tokens {
        written.push(write_table(
            dir,
            &format!("{}.parquet", crate::findings::STOLEN_TOKENS),
            stolen_tokens_schema(),
            vec![
                int64(t.iter().map(|x| x.token_id), None),
                int64(t.iter().map(|x| x.user_id), None),
                ts_array(t.iter().map(|x| x.ts).collect()),
                int64(t.iter().map(|x| x.event_id), None),
                int32(t.iter().map(|x| x.hop), None),
                int64(t.iter().map(|x| x.pivot_id), None),
            ],
        )?);
    }
    let u = &found.users;
    let mut groups = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        false,
    )));
    for x in u {
        for g in FieldGroup::ALL {
            if x.groups & (1 << g.index()) != 0 {
                groups.values().append_value(g.as_str());
            }
        }
        groups.append(true);
    }
    // A plain string column: a tier may be unknown (null).
    let tiers: arrow::array::StringArray = u.iter().map(|x| x.tier.map(Tier::as_str)).collect();
    let list_type = DataType::List(Arc::new(Field::new("item", DataType::Utf8, false)));
    let schema = Arc::new(Schema::new(vec![
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::TIER, DataType::Utf8, true),
        Field::new(col::FIELD_GROUPS, list_type, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        int64(u.iter().map(|x| x.user_id), None),
        Arc::new(tiers),
        Arc::new(groups.finish()),
    ];
    written.push(write_table(
        dir,
        &format!("{}.parquet", crate::findings::VIEW_AS_USERS),
        schema,
        columns,
    )?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: AccessKind, event_id: u64, ts: i64, user: u64, target: u64) -> AccessRow {
        AccessRow {
            event_id,
            ts,
            kind,
            user_id: user,
            target_id: target,
            token_id: None,
            issued_token_id: 0,
            session_id: 1,
            client: Some(blastradius_schema::Client::Web),
            network: 1,
            path: None,
            field_group: None,
        }
    }

    fn issue(event_id: u64, ts: i64, user: u64, target: u64, token: u64, issued: u64) -> AccessRow {
        AccessRow {
            token_id: Some(token),
            issued_token_id: issued,
            path: Some(TokenPath::VideoUploader),
            ..row(AccessKind::TokenIssued, event_id, ts, user, target)
        }
    }

    fn read(event_id: u64, ts: i64, owner: u64, token: u64, g: FieldGroup) -> AccessRow {
        AccessRow {
            token_id: Some(token),
            field_group: Some(g),
            ..row(AccessKind::ProfileRead, event_id, ts, owner, owner)
        }
    }

    /// A hand-built log: attacker 1 (login token 100) takes 2's token (200) and 3's (300);
    /// with 200 it takes 4's (400). 3's contact and profile are read, 4's contact; 5 uses the
    /// uploader for itself, 6 is viewed "as" by an ordinary look-up.
    fn log() -> Vec<AccessRow> {
        vec![
            row(AccessKind::FlawIntroduced, 3, 0, 0, 0),
            row(AccessKind::ViewAs, 10, 5, 1, 2),
            issue(11, 6, 1, 2, 100, 200),
            issue(12, 7, 1, 3, 100, 300),
            read(13, 8, 3, 300, FieldGroup::Contact),
            read(14, 9, 3, 300, FieldGroup::Profile),
            read(15, 10, 2, 200, FieldGroup::Friends),
            issue(16, 11, 2, 4, 200, 400),
            read(17, 12, 4, 400, FieldGroup::Contact),
            issue(18, 13, 5, 5, 500, 501),
            row(AccessKind::ViewAs, 19, 14, 7, 6),
            row(AccessKind::FlawFixed, 4, 20, 0, 0),
            row(AccessKind::ViewAs, 20, 21, 7, 8),
        ]
    }

    #[test]
    fn the_rules_on_a_hand_built_log() {
        let mut rows = log();
        rows.push(rows[3]); // a duplicate changes nothing
        rows.push(rows[0]); // a deploy is in every shard: not a duplicate
        rows.reverse(); // nor does the order
        let out = exact(rows);
        assert_eq!(out.duplicates, 1);
        let tokens: Vec<(u64, u64, u32, u64)> = out
            .tokens
            .unwrap()
            .iter()
            .map(|t| (t.token_id, t.user_id, t.hop, t.pivot_id))
            .collect();
        assert_eq!(tokens, vec![(200, 2, 1, 1), (300, 3, 1, 1), (400, 4, 2, 2)]);
        let users: Vec<(u64, Option<Tier>)> =
            out.users.iter().map(|u| (u.user_id, u.tier)).collect();
        assert_eq!(
            users,
            vec![
                (2, Some(Tier::Pivot)),
                (3, Some(Tier::ContactProfile)),
                (4, Some(Tier::Contact)),
            ]
        );
    }

    #[test]
    fn the_incremental_form_says_what_the_batch_one_finds_in_log_order() {
        let mut live = Incremental::new();
        let mut said = Vec::new();
        let mut rows = log();
        rows.push(rows[3]); // a duplicate says nothing new
        for r in &rows {
            live.push(r, &mut said);
        }
        let tokens: Vec<u64> = said
            .iter()
            .filter_map(|l| match l {
                Learned::Token(t) => Some(*t),
                _ => None,
            })
            .collect();
        assert_eq!(tokens, vec![200, 300, 400]);
        // The last tier said of each user is the batch rule's.
        let mut last = BTreeMap::new();
        for l in &said {
            if let Learned::User(u, t) = l {
                last.insert(*u, *t);
            }
        }
        let batch: BTreeMap<u64, Tier> = exact(log())
            .users
            .iter()
            .map(|u| (u.user_id, u.tier.unwrap()))
            .collect();
        assert_eq!(last, batch);
        // Each tier is said once, as it rises: 3 goes token only, contact, contact + profile.
        let of_3: Vec<Tier> = said
            .iter()
            .filter_map(|l| match l {
                Learned::User(3, t) => Some(*t),
                _ => None,
            })
            .collect();
        assert_eq!(of_3, [Tier::TokenOnly, Tier::Contact, Tier::ContactProfile]);
    }

    #[test]
    fn a_pivot_is_known_whichever_theft_comes_first() {
        // 400 taken with 200 before 200's own theft arrives: 2 is still a pivot.
        let mut rows = log();
        let (i, j) = (2, 7);
        assert_eq!((rows[i].event_id, rows[j].event_id), (11, 16));
        rows.swap(i, j);
        let mut live = Incremental::new();
        let mut said = Vec::new();
        for r in &rows {
            live.push(r, &mut said);
        }
        assert!(said.contains(&Learned::User(2, Tier::Pivot)));
        assert_eq!(live.tokens(), 3);
    }

    #[test]
    fn the_precautionary_rule_takes_every_look_up_while_the_flaw_lived() {
        let users: Vec<u64> = precautionary(log())
            .users
            .iter()
            .map(|u| u.user_id)
            .collect();
        assert_eq!(users, vec![2, 6], "8 was looked up after the fix");
    }

    #[test]
    fn a_lost_issue_loses_its_token_and_shortens_the_chain() {
        let rows: Vec<AccessRow> = log().into_iter().filter(|r| r.event_id != 11).collect();
        let out = exact(rows);
        let tokens: Vec<(u64, u32)> = out
            .tokens
            .unwrap()
            .iter()
            .map(|t| (t.token_id, t.hop))
            .collect();
        assert_eq!(tokens, vec![(300, 1), (400, 1)]);
    }
}
