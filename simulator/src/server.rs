//! The server model of one user's account: the rules of SPEC §4, and the ground truth.
//!
//! The generator feeds it each of the user's events in log order `(ts, event_id)`, and the
//! deploy events; it answers API calls the way the buggy platform did and records every
//! exposure and message violation as it happens. It is the simulator's ground truth; the
//! analyzer reimplements the same rules on its own.

use blastradius_schema::{Action, Kind, Scope, Surface};

use crate::event::Event;

/// A photo in the user's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Photo {
    pub uploaded: i64,
    pub photo_id: u64,
    pub surface: Surface,
    pub deleted: bool,
}

/// One (app, photo) pair the buggy API returned off the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub app_id: u32,
    pub user_id: u64,
    pub photo_id: u64,
    /// The photo's surface when it was first returned.
    pub surface: Surface,
    pub first_exposed_ts: i64,
    /// The call that first returned it: its event id stays the same in a damaged copy whose
    /// clock skew moved its `ts`, so a live matcher can find it in any stream.
    pub first_exposed_event_id: u64,
}

/// A successful message call without an active matching scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    pub event_id: u64,
    pub app_id: u32,
    pub user_id: u64,
    pub action: Action,
    pub ts: i64,
}

/// The state of one user's account as seen by the server.
#[derive(Debug, Default)]
pub struct Account {
    pub user_id: u64,
    /// Photos in upload order `(uploaded, photo_id)`, the reverse of the API's order.
    photos: Vec<Photo>,
    grants: Vec<(u32, Scope)>,
    bug_active: bool,
    exposures: Vec<Exposure>,
    violations: Vec<Violation>,
}

/// How the server answered a photo call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhotoResponse {
    pub status: u16,
    pub items_returned: u32,
}

impl Account {
    /// An empty account, before any deploy.
    pub fn new(user_id: u64) -> Self {
        Account {
            user_id,
            ..Default::default()
        }
    }

    /// Clears the account for another user, keeping its allocations.
    pub fn reset(&mut self, user_id: u64) {
        self.user_id = user_id;
        self.photos.clear();
        self.grants.clear();
        self.bug_active = false;
        self.exposures.clear();
        self.violations.clear();
    }

    /// A deploy: `true` introduces the bug, `false` fixes it.
    pub fn set_bug(&mut self, active: bool) {
        self.bug_active = active;
    }

    pub fn grant(&mut self, app_id: u32, scope: Scope) {
        if !self.has_grant(app_id, scope) {
            self.grants.push((app_id, scope));
        }
    }

    pub fn revoke(&mut self, app_id: u32, scope: Scope) {
        self.grants.retain(|&g| g != (app_id, scope));
    }

    pub fn has_grant(&self, app_id: u32, scope: Scope) -> bool {
        self.grants.contains(&(app_id, scope))
    }

    /// Uploads must arrive in log order, which is also upload order.
    pub fn upload(&mut self, ts: i64, photo_id: u64, surface: Surface) {
        debug_assert!(
            self.photos
                .last()
                .is_none_or(|p| (p.uploaded, p.photo_id) < (ts, photo_id))
        );
        self.photos.push(Photo {
            uploaded: ts,
            photo_id,
            surface,
            deleted: false,
        });
    }

    fn photo_mut(&mut self, photo_id: u64) -> Option<&mut Photo> {
        self.photos
            .iter_mut()
            .rev()
            .find(|p| p.photo_id == photo_id)
    }

    /// A draft becomes a timeline post.
    pub fn publish(&mut self, photo_id: u64) {
        if let Some(p) = self.photo_mut(photo_id) {
            p.surface = Surface::Timeline;
        }
    }

    pub fn delete(&mut self, photo_id: u64) {
        if let Some(p) = self.photo_mut(photo_id) {
            p.deleted = true;
        }
    }

    /// Whether a live photo on `surface` is returned by the photo API in the current state.
    fn visible(&self, surface: Surface) -> bool {
        match surface {
            Surface::Timeline => true,
            Surface::Marketplace | Surface::Story | Surface::Draft => self.bug_active,
            Surface::Messenger => false,
        }
    }

    /// Answers a photo call. `fault` is the 429/5xx the platform returns instead, if any;
    /// it applies only to calls the grant allows (others get 403 first).
    pub fn photo_call(
        &mut self,
        ts: i64,
        event_id: u64,
        app_id: u32,
        page: u32,
        page_size: u32,
        fault: Option<u16>,
    ) -> PhotoResponse {
        if !self.has_grant(app_id, Scope::UserPhotos) {
            return PhotoResponse {
                status: 403,
                items_returned: 0,
            };
        }
        if let Some(status) = fault {
            return PhotoResponse {
                status,
                items_returned: 0,
            };
        }
        let skip = page as usize * page_size as usize;
        let mut returned = 0u32;
        let mut seen = 0usize;
        for i in (0..self.photos.len()).rev() {
            let p = self.photos[i];
            if p.deleted || !self.visible(p.surface) {
                continue;
            }
            seen += 1;
            if seen <= skip {
                continue;
            }
            returned += 1;
            if p.surface != Surface::Timeline {
                self.expose(ts, event_id, app_id, p);
            }
            if returned == page_size {
                break;
            }
        }
        PhotoResponse {
            status: 200,
            items_returned: returned,
        }
    }

    fn expose(&mut self, ts: i64, event_id: u64, app_id: u32, p: Photo) {
        let known = self
            .exposures
            .iter()
            .any(|e| e.app_id == app_id && e.photo_id == p.photo_id);
        if !known {
            self.exposures.push(Exposure {
                app_id,
                user_id: self.user_id,
                photo_id: p.photo_id,
                surface: p.surface,
                first_exposed_ts: ts,
                first_exposed_event_id: event_id,
            });
        }
    }

    /// Answers a message call. `honoured_without_grant` says whether the platform lets this
    /// call through even without the scope (a token that survived revocation, or a partner
    /// with blanket access): such a successful call is a violation.
    pub fn message_call(
        &mut self,
        ts: i64,
        event_id: u64,
        app_id: u32,
        action: Action,
        honoured_without_grant: bool,
        fault: Option<u16>,
    ) -> u16 {
        let granted = self.has_grant(app_id, action.scope());
        if !granted && !honoured_without_grant {
            return 403;
        }
        if let Some(status) = fault {
            return status;
        }
        if !granted {
            self.violations.push(Violation {
                event_id,
                app_id,
                user_id: self.user_id,
                action,
                ts,
            });
        }
        200
    }

    /// Applies one event of this user's log (or a deploy) in log order. For API calls,
    /// `fault` and `honoured_without_grant` are as in [`Account::photo_call`] and
    /// [`Account::message_call`]; the event's `status` and `items_returned` are filled in.
    pub fn apply(&mut self, event: &mut Event, fault: Option<u16>, honoured_without_grant: bool) {
        match event.kind {
            Kind::BugIntroduced => self.set_bug(true),
            Kind::BugFixed => self.set_bug(false),
            Kind::Deploy => {}
            Kind::PermissionGranted => self.grant(event.app_id, event.scope),
            Kind::PermissionRevoked => self.revoke(event.app_id, event.scope),
            Kind::PhotoUploaded => self.upload(event.ts, event.photo_id, event.surface),
            Kind::PhotoPublished => self.publish(event.photo_id),
            Kind::PhotoDeleted => self.delete(event.photo_id),
            Kind::PhotoApiCall => {
                let r = self.photo_call(
                    event.ts,
                    event.event_id,
                    event.app_id,
                    event.page,
                    event.page_size,
                    fault,
                );
                event.status = r.status;
                event.items_returned = r.items_returned;
            }
            Kind::MessageApiCall => {
                event.status = self.message_call(
                    event.ts,
                    event.event_id,
                    event.app_id,
                    event.action,
                    honoured_without_grant,
                    fault,
                );
            }
            Kind::UserRegistered => {}
        }
    }

    /// Exposures so far, in the order they first happened.
    pub fn exposures(&self) -> &[Exposure] {
        &self.exposures
    }

    /// Violations so far, in log order.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

/// What replaying a hand-written log yields.
#[derive(Debug, Default)]
pub struct Replay {
    /// The log with statuses and `items_returned` recomputed, in log order.
    pub events: Vec<Event>,
    pub exposures: Vec<Exposure>,
    pub violations: Vec<Violation>,
}

/// Replays a log of one user (deploy events included) through the server model, in log
/// order. A call recorded as 429 or 5xx is taken as that fault; a message call recorded as
/// 200 is taken as let through. Used to state the truth of small hand-built worlds.
pub fn replay_log(user_id: u64, events: &[Event]) -> Replay {
    let mut log = events.to_vec();
    log.sort_by_key(|e| e.order_key());
    let mut account = Account::new(user_id);
    for e in &mut log {
        let fault = (e.status == 429 || e.status >= 500).then_some(e.status);
        let honoured = e.kind == Kind::MessageApiCall && e.status == 200;
        account.apply(e, fault, honoured);
    }
    Replay {
        events: log,
        exposures: account.exposures.clone(),
        violations: account.violations.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account_with(surfaces: &[Surface]) -> Account {
        let mut a = Account::new(9);
        for (i, s) in surfaces.iter().enumerate() {
            a.upload(i as i64 * 10, 100 + i as u64, *s);
        }
        a.grant(1, Scope::UserPhotos);
        a
    }

    #[test]
    fn only_the_timeline_is_visible_without_the_bug() {
        use Surface::*;
        let mut a = account_with(&[Timeline, Marketplace, Story, Draft, Messenger, Timeline]);
        let r = a.photo_call(100, 0, 1, 0, 25, None);
        assert_eq!(
            r,
            PhotoResponse {
                status: 200,
                items_returned: 2
            }
        );
        assert!(a.exposures().is_empty());
        a.set_bug(true);
        let r = a.photo_call(101, 0, 1, 0, 25, None);
        assert_eq!(r.items_returned, 5);
        let exposed: Vec<u64> = a.exposures().iter().map(|e| e.photo_id).collect();
        // Newest first: draft (103), story (102), marketplace (101); messenger never.
        assert_eq!(exposed, vec![103, 102, 101]);
    }

    #[test]
    fn pages_cut_the_newest_first_order() {
        use Surface::*;
        let mut a = account_with(&[Story, Timeline, Timeline, Timeline, Timeline]);
        a.set_bug(true);
        // Order: 104, 103, 102, 101, 100(story). Page 1 of size 2 is 102, 101.
        assert_eq!(a.photo_call(5, 0, 1, 1, 2, None).items_returned, 2);
        assert!(a.exposures().is_empty());
        assert_eq!(a.photo_call(6, 0, 1, 2, 2, None).items_returned, 1);
        assert_eq!(a.exposures()[0].photo_id, 100);
        assert_eq!(a.photo_call(7, 0, 1, 3, 2, None).items_returned, 0);
    }

    #[test]
    fn no_grant_is_403_and_faults_only_hit_granted_calls() {
        let mut a = account_with(&[Surface::Story]);
        a.set_bug(true);
        assert_eq!(a.photo_call(1, 0, 2, 0, 25, Some(429)).status, 403);
        assert_eq!(a.photo_call(1, 0, 1, 0, 25, Some(503)).status, 503);
        assert!(a.exposures().is_empty());
        a.revoke(1, Scope::UserPhotos);
        assert_eq!(a.photo_call(1, 0, 1, 0, 25, None).status, 403);
    }

    #[test]
    fn published_drafts_and_deleted_photos() {
        use Surface::*;
        let mut a = account_with(&[Draft, Marketplace]);
        a.set_bug(true);
        a.publish(100);
        a.delete(101);
        assert_eq!(a.photo_call(1, 0, 1, 0, 25, None).items_returned, 1);
        assert!(a.exposures().is_empty());
    }

    #[test]
    fn message_violations_need_a_success_without_the_scope() {
        let mut a = Account::new(3);
        a.grant(7, Scope::ReadMailbox);
        assert_eq!(a.message_call(1, 10, 7, Action::Read, false, None), 200);
        assert_eq!(a.message_call(2, 11, 7, Action::Delete, false, None), 403);
        assert_eq!(
            a.message_call(3, 12, 7, Action::Delete, true, Some(429)),
            429
        );
        assert_eq!(a.message_call(4, 13, 7, Action::Delete, true, None), 200);
        assert_eq!(a.violations().len(), 1);
        assert_eq!(a.violations()[0].event_id, 13);
    }
}
