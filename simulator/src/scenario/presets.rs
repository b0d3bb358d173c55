//! The built-in presets: each world's rates, calibrated to what was reported of its
//! incident (the calibration block of `generate` prints each figure beside its target).

use super::{
    ActionWeights, Attack, Background, Bug, Catalog, FriendGraph, Messaging, Partner, Period,
    PhotoApps, Photos, Scenario, SurfaceWeights, Users, ViewAs,
};

pub(super) fn facebook_2018() -> Scenario {
    Scenario {
        name: "facebook-2018".into(),
        description: "The September 2018 photo-API bug: apps holding user_photos also saw \
                      marketplace, story and draft photos between two deploys."
            .into(),
        incident: true,
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
        view_as: None,
    }
}

pub(super) fn messaging_partners() -> Scenario {
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

/// A preset on which paging decides the answer, so a rule that ignores it cannot pass for an
/// exact one. Apps read one page of 10 photos ("latest photos" widgets) from users with large
/// albums; marketplace listings, which live for years, mostly sit below that page. A rule
/// that counts every live off-timeline photo at a successful call in the window scores about
/// 0.6 at exposure level and 0.93 at user level here, against 0.99 and 1.0 on
/// `facebook-2018` (see data/README.md).
pub(super) fn shallow_paging() -> Scenario {
    let mut s = facebook_2018();
    s.name = "shallow-paging".into();
    s.description = "The 2018 photo-API bug with apps that read only the newest 10 photos (one \
                     page) of users with large albums: paging decides which off-timeline \
                     photos were returned."
        .into();
    s.photos.live_at_start_mean = 30.0;
    s.photos.uploads_mean = 20.0;
    s.photos.surfaces = SurfaceWeights {
        timeline: 0.57,
        marketplace: 0.06,
        story: 0.13,
        draft: 0.12,
        messenger: 0.12,
    };
    s.photo_apps.page_size = 10;
    s.photo_apps.max_pages = 1;
    s
}

/// The photo-API world of `facebook-2018` (the same month), with the "View As" token theft
/// of 14 to 27 September 2018 on a friend graph. Shares are of Facebook's 2.27 billion
/// monthly users: 30 million tokens taken (1.32%), 400,000 pivots (0.0176%), and of the 30
/// million, 15 million with contact details read, 14 million with contact and profile
/// details, 1 million with nothing read.
pub(super) fn view_as_2018() -> Scenario {
    let mut s = facebook_2018();
    s.name = "view-as-2018".into();
    s.description = "The September 2018 \"View As\" attack: the video uploader minted tokens \
                     for the viewed-as friend, and an attacker spread from friend to friend \
                     (with the photo-API bug of the same month)."
        .into();
    s.view_as = Some(ViewAs {
        flaw_introduced: "2017-07-01T00:00:00Z".into(),
        attack_start: "2018-09-14T00:00:00Z".into(),
        identified: "2018-09-25T00:00:00Z".into(),
        flaw_fixed: "2018-09-27T00:00:00Z".into(),
        tokens_reset: "2018-09-28T00:00:00Z".into(),
        graph: FriendGraph {
            median_degree: 20.0,
            degree_sigma: 1.0,
            max_degree: 1000,
            reach: 128,
            far_share: 0.5,
        },
        attack: Attack {
            accounts: 5,
            stolen_share: 30.0e6 / 2.27e9,
            pivot_share: 0.4e6 / 2.27e9,
            friends_taken: 0.7,
            max_hops: 3,
            contact: 15.0,
            contact_profile: 14.0,
            token_only: 1.0,
            networks: 3,
        },
        background: Background {
            logins_mean: 2.0,
            reads_mean: 1.0,
            view_as_share: 0.0176,
            uploader_share: 0.01,
            networks: 5000,
        },
    });
    s
}

fn partner(name: &str, category: &str, weight: f64) -> Partner {
    Partner {
        name: name.into(),
        category: category.into(),
        weight,
    }
}
