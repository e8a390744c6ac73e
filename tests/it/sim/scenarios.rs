//! The scenarios, each over a perfect network (with exact expectations) and over 20 seeds of a lossy one
//! (5–10 % loss and duplication, jitter that reorders): every call that starts ends, on both legs, with
//! the expected outcome, and the call machine finishes.

use std::time::Duration;

use sst_b2bua::proto::call::{EndReason, LegId};

use super::{for_seeds, Answer, Dir, Net, Script, World};

/// Seeds per lossy scenario: 20, or `SIM_SEEDS` for a longer soak.
fn lossy_seeds() -> std::ops::Range<u64> {
    let n = std::env::var("SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    0..n
}
const LIMIT: Duration = Duration::from_secs(600);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn accept(after: u64) -> Answer {
    Answer::Accept { after: secs(after), early_media: false }
}

/// Runs the world to the end and checks what every scenario must end with.
fn run(seed: u64, net: Net, caller: Script, callee: Script) -> World {
    let mut w = World::new(seed, net, caller, callee);
    w.run(LIMIT);
    w.assert_clean();
    w
}

/// Both legs answered, each UA holding the other's first SDP.
fn assert_answered(w: &World) {
    let (a, b) = (&w.caller.log, &w.callee.log);
    assert!(w.answered, "the call never reported Answered");
    assert_eq!(a.final_status, Some(200));
    assert_eq!(b.final_status, Some(200));
    assert!(a.confirmed, "the caller ACKed");
    // The callee's ACK may be lost with every 2xx repeat before a BYE: that BYE then shows the 2xx got there.
    assert!(b.confirmed || b.bye_got, "the callee got its ACK");
    assert_eq!(a.remote_sdp.as_deref(), Some(w.callee.sdp(1).as_str()), "caller got the callee's SDP");
    assert_eq!(b.remote_sdp.as_deref(), Some(w.caller.sdp(1).as_str()), "callee got the caller's SDP");
}

fn caller_hangs_up(seed: u64, net: Net) -> World {
    let caller = Script { hangup_after: Some(secs(5)), ..Script::default() };
    let callee = Script { answer: accept(2), ..Script::default() };
    let w = run(seed, net, caller, callee);
    assert_answered(&w);
    assert!(w.caller.log.bye_sent_ok, "the caller's BYE got its 200");
    assert!(w.callee.log.bye_got, "the BYE reached the callee");
    assert!(!w.caller.log.bye_got && !w.callee.log.bye_sent_ok);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    w
}

fn callee_hangs_up(seed: u64, net: Net) -> World {
    let callee = Script { answer: accept(2), hangup_after: Some(secs(5)), ..Script::default() };
    let w = run(seed, net, Script::default(), callee);
    assert_answered(&w);
    assert!(w.callee.log.bye_sent_ok, "the callee's BYE got its 200");
    assert!(w.caller.log.bye_got, "the BYE reached the caller");
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::B)));
    w
}

fn caller_cancels(seed: u64, net: Net) -> World {
    let caller = Script { cancel_after: Some(secs(3)), ..Script::default() };
    let callee = Script { answer: Answer::Ring, ..Script::default() };
    let w = run(seed, net, caller, callee);
    assert_eq!(w.caller.log.final_status, Some(487));
    assert!(w.callee.log.cancelled, "the CANCEL reached the callee");
    assert_eq!(w.callee.log.final_status, Some(487));
    assert!(!w.answered);
    assert_eq!(w.end_reason(), Some(&EndReason::Cancelled));
    w
}

fn callee_busy(seed: u64, net: Net) -> World {
    let callee = Script { answer: Answer::Reject(486), ..Script::default() };
    let w = run(seed, net, Script::default(), callee);
    assert_eq!(w.caller.log.final_status, Some(486));
    assert!(!w.answered);
    assert_eq!(w.end_reason(), Some(&EndReason::Rejected(486)));
    w
}

fn early_media_then_answer(seed: u64, net: Net) -> World {
    let caller = Script { hangup_after: Some(secs(4)), ..Script::default() };
    let callee = Script { answer: Answer::Accept { after: secs(2), early_media: true }, ..Script::default() };
    let w = run(seed, net, caller, callee);
    assert_answered(&w);
    assert!(w.caller.log.bye_sent_ok && w.callee.log.bye_got);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    w
}

fn no_answer(seed: u64, net: Net) -> World {
    let callee = Script { answer: Answer::Ring, ..Script::default() };
    let mut w = World::new(seed, net, Script::default(), callee);
    w.config.ring_timeout = secs(20);
    w.run(LIMIT);
    w.assert_clean();
    assert_eq!(w.caller.log.final_status, Some(408));
    assert!(w.callee.log.cancelled, "the callee was cancelled");
    assert_eq!(w.end_reason(), Some(&EndReason::NoAnswer));
    w
}

/// The side that re-INVITEs also hangs up once its re-INVITE is done.
fn reinvite(seed: u64, net: Net, from_caller: bool) -> World {
    let active = Script { reinvite_after: Some(secs(2)), hangup_after: Some(secs(3)), ..Script::default() };
    let (caller, callee) = if from_caller {
        (active, Script { answer: accept(1), ..Script::default() })
    } else {
        (Script::default(), Script { answer: accept(1), ..active })
    };
    let w = run(seed, net, caller, callee);
    assert_answered(&w);
    let (offerer, answerer) = if from_caller { (&w.caller, &w.callee) } else { (&w.callee, &w.caller) };
    assert_eq!(offerer.log.reinvite_answer.as_deref(), Some(answerer.sdp(2).as_str()), "answer crossed back");
    assert_eq!(answerer.log.reinvite_offer.as_deref(), Some(offerer.sdp(2).as_str()), "new offer crossed");
    // Over a lossy link the ACK and every 2xx repeat before the BYE may be lost: the BYE then ends it.
    assert!(answerer.log.reinvite_acked || answerer.log.bye_got, "the answerer's 2xx got its ACK");
    assert!(offerer.log.bye_sent_ok && answerer.log.bye_got);
    let leg = if from_caller { LegId::A } else { LegId::B };
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(leg)));
    w
}

macro_rules! both_networks {
    ($name:ident, $scenario:expr, |$w:ident| $perfect_checks:block) => {
        mod $name {
            use super::*;

            #[test]
            fn perfect_network() {
                for_seeds(concat!(stringify!($name), " (perfect)"), 0..3, |seed| {
                    let $w = $scenario(seed, Net::perfect());
                    $perfect_checks
                });
            }

            #[test]
            fn lossy_network() {
                for_seeds(concat!(stringify!($name), " (lossy)"), lossy_seeds(), |seed| {
                    $scenario(seed, Net::lossy(seed));
                });
            }
        }
    };
}

both_networks!(caller_bye, caller_hangs_up, |w| {
    assert!(w.callee.log.confirmed);
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});
both_networks!(callee_bye, callee_hangs_up, |w| {
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});
both_networks!(cancel_while_ringing, caller_cancels, |w| {
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});
both_networks!(busy, callee_busy, |w| {
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});
both_networks!(early_media, early_media_then_answer, |w| {
    assert!(w.callee.log.confirmed);
    assert_eq!(w.caller.log.provisional, vec![100, 183]);
    assert_eq!(w.caller.log.early_sdp.as_deref(), Some(w.callee.sdp(1).as_str()));
});
both_networks!(ring_timeout, no_answer, |w| {
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});
both_networks!(reinvite_from_caller, |s, n| reinvite(s, n, true), |w| {
    assert!(w.callee.log.confirmed);
    assert_eq!(w.caller.log.reinvite_491 + w.callee.log.reinvite_491, 0);
    assert!(w.callee.log.reinvite_acked, "the answerer's 2xx got its ACK");
});
both_networks!(reinvite_from_callee, |s, n| reinvite(s, n, false), |w| {
    assert!(w.callee.log.confirmed);
    assert_eq!(w.caller.log.reinvite_491 + w.callee.log.reinvite_491, 0);
    assert!(w.caller.log.reinvite_acked, "the answerer's 2xx got its ACK");
});

/// The callee hangs up while every copy of our 200 to the caller so far was lost: the BYE on leg A waits
/// for the caller's ACK (RFC 3261 §15), so the caller still gets its 200, ACKs it, then gets the BYE.
fn callee_hangs_up_before_callers_ack(seed: u64, net: Net) -> World {
    let callee = Script { answer: accept(1), hangup_after: Some(secs(1)), ..Script::default() };
    let mut w = World::new(seed, net, Script::default(), callee);
    w.drop_next(Dir::B2buaToCaller, "200 OK", 3);
    w.run(LIMIT);
    w.assert_clean();
    assert_answered(&w);
    assert!(w.caller.log.bye_got && w.callee.log.bye_sent_ok);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::B)));
    w
}

both_networks!(bye_before_ack, callee_hangs_up_before_callers_ack, |w| {
    assert!(w.callee.log.confirmed);
    assert_eq!(w.caller.log.provisional, vec![100, 180]);
});

/// The caller cancels just as the callee answers (the answer time moves with the seed, so the race lands
/// on both sides): either the CANCEL wins (487 to the caller; a 200 that still comes from the callee gets
/// ACK and BYE) or the answer does (the caller gets 200 and hangs up, as §9.1 asks). Either way both legs end.
fn cancel_races_answer(seed: u64, net: Net) -> World {
    let caller = Script { cancel_after: Some(secs(2)), hangup_after: Some(secs(1)), ..Script::default() };
    let after = Duration::from_millis(1850 + (seed % 30) * 10);
    let callee = Script { answer: Answer::Accept { after, early_media: false }, ..Script::default() };
    let w = run(seed, net, caller, callee);
    let (a, b) = (&w.caller.log, &w.callee.log);
    match w.end_reason() {
        Some(EndReason::Cancelled) => {
            assert_eq!(a.final_status, Some(487));
            match b.final_status {
                Some(487) => assert!(b.cancelled),
                Some(200) => assert!(b.bye_got, "the callee's late 200 got ACK and BYE"),
                other => panic!("callee ended with {other:?}"),
            }
        }
        Some(EndReason::Bye(LegId::A)) => {
            assert_answered(&w);
            assert!(a.bye_sent_ok && b.bye_got);
        }
        other => panic!("unexpected end: {other:?}"),
    }
    w
}

#[test]
fn cancel_races_answer_perfect_network() {
    for_seeds("cancel races answer (perfect)", 0..30, |seed| {
        cancel_races_answer(seed, Net::perfect());
    });
}

#[test]
fn cancel_races_answer_lossy_network() {
    for_seeds("cancel races answer (lossy)", lossy_seeds(), |seed| {
        cancel_races_answer(seed, Net::lossy(seed));
    });
}
