//! Small hand-built logs whose exposures and violations are stated by hand.

use blastradius_schema::{Action, Kind, Scope, Surface};
use blastradius_simulator::event::Event;
use blastradius_simulator::server::{Exposure, replay_log};

const USER: u64 = 7;
const APP: u32 = 3;
const INTRO: i64 = 1_000;
const FIX: i64 = 2_000;

/// Builds a log; ids follow the order events are added, above the deploy events' ids.
struct Log {
    events: Vec<Event>,
}

impl Log {
    fn new() -> Self {
        // An ordinary deploy inside the window changes nothing: the bug stays on.
        Log {
            events: vec![
                Event::new(Kind::BugIntroduced, INTRO, 1, 0),
                Event::new(Kind::Deploy, (INTRO + FIX) / 2, 2, 0),
                Event::new(Kind::BugFixed, FIX, 3, 0),
            ],
        }
    }

    fn add(&mut self, kind: Kind, ts: i64) -> &mut Event {
        let id = 100 + self.events.len() as u64;
        self.events.push(Event::new(kind, ts, id, USER));
        self.events.last_mut().unwrap()
    }

    /// Uploads a photo; returns its id (the upload's event id).
    fn upload(&mut self, ts: i64, surface: Surface) -> u64 {
        let e = self.add(Kind::PhotoUploaded, ts);
        e.surface = surface;
        e.photo_id = e.event_id;
        e.photo_id
    }

    fn grant(&mut self, ts: i64, app: u32, scope: Scope) {
        let e = self.add(Kind::PermissionGranted, ts);
        e.app_id = app;
        e.scope = scope;
    }

    fn revoke(&mut self, ts: i64, app: u32, scope: Scope) {
        let e = self.add(Kind::PermissionRevoked, ts);
        e.app_id = app;
        e.scope = scope;
    }

    fn photo_kind(&mut self, kind: Kind, ts: i64, photo_id: u64) {
        self.add(kind, ts).photo_id = photo_id;
    }

    /// A photo call; `status` 0 lets the model decide, 429/5xx forces that fault.
    fn call(&mut self, ts: i64, app: u32, page: u32, page_size: u32, status: u16) -> u64 {
        let e = self.add(Kind::PhotoApiCall, ts);
        e.app_id = app;
        e.page = page;
        e.page_size = page_size;
        e.status = status;
        e.event_id
    }

    fn message(&mut self, ts: i64, action: Action, status: u16) -> u64 {
        let e = self.add(Kind::MessageApiCall, ts);
        e.app_id = APP;
        e.action = action;
        e.status = status;
        e.event_id
    }

    fn run(&self) -> (Vec<Event>, Vec<Exposure>) {
        let r = replay_log(USER, &self.events);
        (r.events, r.exposures)
    }
}

fn answer(events: &[Event], id: u64) -> (u16, u32) {
    let e = events.iter().find(|e| e.event_id == id).unwrap();
    (e.status, e.items_returned)
}

fn exposed(exposures: &[Exposure]) -> Vec<(u32, u64)> {
    let mut v: Vec<_> = exposures.iter().map(|e| (e.app_id, e.photo_id)).collect();
    v.sort_unstable();
    v
}

#[test]
fn pagination_exposes_only_the_page_returned() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    // Oldest first: a story, then 4 timeline photos. API order: t4 t3 t2 t1 story.
    let story = log.upload(20, Surface::Story);
    for ts in 21..25 {
        log.upload(ts, Surface::Timeline);
    }
    let p0 = log.call(1_500, APP, 0, 2, 0);
    let p1 = log.call(1_501, APP, 1, 2, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, p0), (200, 2));
    assert_eq!(answer(&events, p1), (200, 2));
    assert!(exposures.is_empty(), "the story sits on page 2");
    let p2 = log.call(1_502, APP, 2, 2, 0);
    let p3 = log.call(1_503, APP, 3, 2, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, p2), (200, 1));
    assert_eq!(
        answer(&events, p3),
        (200, 0),
        "a page beyond the end is empty"
    );
    assert_eq!(exposed(&exposures), vec![(APP, story)]);
    assert_eq!(exposures[0].first_exposed_ts, 1_502);
    assert_eq!(exposures[0].surface, Surface::Story);
}

#[test]
fn equal_upload_times_order_by_larger_photo_id_first() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    let draft = log.upload(20, Surface::Draft);
    let _timeline = log.upload(20, Surface::Timeline);
    let call = log.call(1_500, APP, 0, 1, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, call), (200, 1));
    assert!(
        exposures.is_empty(),
        "the later id comes first and fills the page"
    );
    let call2 = log.call(1_501, APP, 1, 1, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, call2), (200, 1));
    assert_eq!(exposed(&exposures), vec![(APP, draft)]);
}

#[test]
fn a_draft_published_before_the_call_is_not_exposed() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    let published = log.upload(1_100, Surface::Draft);
    let pending = log.upload(1_200, Surface::Draft);
    log.photo_kind(Kind::PhotoPublished, 1_300, published);
    log.call(1_400, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    assert_eq!(exposed(&exposures), vec![(APP, pending)]);
}

#[test]
fn deleted_and_messenger_photos_are_never_returned() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    let gone = log.upload(20, Surface::Marketplace);
    log.upload(30, Surface::Messenger);
    let timeline = log.upload(40, Surface::Timeline);
    log.photo_kind(Kind::PhotoDeleted, 1_100, gone);
    let call = log.call(1_500, APP, 0, 25, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, call), (200, 1));
    assert!(exposures.is_empty());
    assert!(timeline > 0);
}

#[test]
fn revoked_grants_get_403_until_granted_again() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    let story = log.upload(20, Surface::Story);
    log.revoke(1_100, APP, Scope::UserPhotos);
    let denied = log.call(1_200, APP, 0, 25, 0);
    let other_app = log.call(1_210, APP + 1, 0, 25, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, denied), (403, 0));
    assert_eq!(answer(&events, other_app), (403, 0));
    assert!(exposures.is_empty());
    log.grant(1_300, APP, Scope::UserPhotos);
    let again = log.call(1_400, APP, 0, 25, 0);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, again), (200, 1));
    assert_eq!(exposed(&exposures), vec![(APP, story)]);
}

#[test]
fn rate_limited_and_failed_calls_return_nothing() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    log.upload(20, Surface::Story);
    let limited = log.call(1_200, APP, 0, 25, 429);
    let failed = log.call(1_300, APP, 0, 25, 503);
    let (events, exposures) = log.run();
    assert_eq!(answer(&events, limited), (429, 0));
    assert_eq!(answer(&events, failed), (503, 0));
    assert!(exposures.is_empty());
}

#[test]
fn calls_at_the_deploy_timestamps_fall_after_the_deploy() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    let a = log.upload(20, Surface::Story);
    let before_intro = log.call(INTRO - 1, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    assert!(
        exposures.is_empty(),
        "one microsecond before the deploy, no bug"
    );
    // Same timestamp as the deploy: the deploy's id (1) is smaller, so it comes first.
    log.call(INTRO, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    assert_eq!(exposures.len(), 1);
    assert_eq!(exposures[0].first_exposed_ts, INTRO);
    // A second photo appears after the fix: calls at and after the fix cannot expose it.
    let b = log.upload(FIX - 10, Surface::Marketplace);
    log.call(FIX, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    assert_eq!(exposed(&exposures), vec![(APP, a)]);
    log.call(FIX - 1, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    assert_eq!(exposed(&exposures), vec![(APP, a), (APP, b)]);
    assert!(before_intro > 0);
}

#[test]
fn first_exposure_keeps_the_earliest_call_and_its_surface() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::UserPhotos);
    log.grant(10, APP + 1, Scope::UserPhotos);
    let draft = log.upload(1_100, Surface::Draft);
    log.call(1_200, APP, 0, 25, 0);
    log.call(1_300, APP, 0, 25, 0);
    log.call(1_250, APP + 1, 0, 25, 0);
    log.photo_kind(Kind::PhotoPublished, 1_400, draft);
    log.call(1_500, APP, 0, 25, 0);
    let (_, exposures) = log.run();
    let mut rows: Vec<_> = exposures
        .iter()
        .map(|e| (e.app_id, e.first_exposed_ts, e.surface))
        .collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        vec![
            (APP, 1_200, Surface::Draft),
            (APP + 1, 1_250, Surface::Draft)
        ]
    );
}

#[test]
fn message_violations_are_successes_without_the_scope() {
    let mut log = Log::new();
    log.grant(10, APP, Scope::ReadMailbox);
    let ok = log.message(20, Action::Read, 200);
    let denied = log.message(30, Action::Write, 403);
    log.revoke(40, APP, Scope::ReadMailbox);
    let leaked = log.message(50, Action::Read, 200);
    let r = replay_log(USER, &log.events);
    assert_eq!(answer(&r.events, ok).0, 200);
    assert_eq!(answer(&r.events, denied).0, 403);
    let ids: Vec<u64> = r.violations.iter().map(|v| v.event_id).collect();
    assert_eq!(ids, vec![leaked]);
}
