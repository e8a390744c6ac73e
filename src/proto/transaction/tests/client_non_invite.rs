//! ClientNonInvite (RFC 3261 §17.1.2) in virtual time.

use std::time::Instant;

use super::*;
use crate::proto::transaction::{TimerConfig, TxState};

const BRANCH: &str = "z9hG4bKcn1";

fn start(reliable: bool) -> (ClientNonInvite, Instant) {
    let base = base();
    let mut tx = ClientNonInvite::new(in_dialog("BYE", BRANCH), reliable, TimerConfig::default(), base);
    assert_eq!(drain(&mut tx, base, base), ev(&[(0, "send BYE")]));
    (tx, base)
}

fn resp(status: u16) -> Response {
    reply(status, BRANCH, "2 BYE", Some("b1"))
}

#[test]
fn udp_timer_e_doubles_to_t2_until_timer_f() {
    let (mut tx, base) = start(false);
    assert_eq!(tx.state(), TxState::Trying);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 500), TimerKind::E)));
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(sends(&events), [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
    assert_eq!(&events[10..], ev(&[(32_000, "timeout"), (32_000, "end")]));
    assert_eq!(wakes.last(), Some(&(32_000, TimerKind::F)));
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn proceeding_retransmits_every_t2_until_timer_f() {
    let (mut tx, base) = start(false);
    run(&mut tx, base, 600);
    tx.handle_response(at(base, 600), resp(100));
    assert_eq!(drain(&mut tx, base, at(base, 600)), ev(&[(600, "deliver 100")]));
    assert_eq!(tx.state(), TxState::Proceeding);
    // Timer E was armed for 1.5 s in Trying and still fires there; from then on it is T2 (§17.1.2.2).
    let (events, _) = run(&mut tx, base, 60_000);
    assert_eq!(sends(&events), [1500, 5500, 9500, 13_500, 17_500, 21_500, 25_500, 29_500]);
    assert_eq!(&events[8..], ev(&[(32_000, "timeout"), (32_000, "end")]));
}

#[test]
fn provisionals_in_proceeding_reach_the_tu() {
    let (mut tx, base) = start(false);
    tx.handle_response(at(base, 100), resp(100));
    tx.handle_response(at(base, 100), resp(100));
    assert_eq!(drain(&mut tx, base, at(base, 100)), ev(&[(100, "deliver 100"), (100, "deliver 100")]));
}

#[test]
fn a_lost_final_response_leaves_retransmission_running() {
    let (mut tx, base) = start(false);
    // The 200 sent after the first BYE was lost: retransmissions continue; the second 200 lands at 4 s.
    let (events, _) = run(&mut tx, base, 4000);
    assert_eq!(sends(&events), [500, 1500, 3500]);
    tx.handle_response(at(base, 4000), resp(200));
    assert_eq!(drain(&mut tx, base, at(base, 4000)), ev(&[(4000, "deliver 200")]));
    assert_eq!(tx.state(), TxState::Completed);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 9000), TimerKind::K)));
    // Duplicates of the final response are absorbed in Completed, and nothing is retransmitted.
    tx.handle_response(at(base, 4001), resp(200));
    tx.handle_response(at(base, 4002), resp(100));
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(9000, "end")]));
    assert_eq!(wakes, [(9000, TimerKind::K)]);
}

#[test]
fn an_error_final_response_completes_too() {
    let (mut tx, base) = start(false);
    tx.handle_response(at(base, 50), resp(481));
    assert_eq!(drain(&mut tx, base, at(base, 50)), ev(&[(50, "deliver 481")]));
    assert_eq!(tx.state(), TxState::Completed);
}

#[test]
fn reliable_sends_once_and_k_is_zero() {
    let (mut tx, base) = start(true);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 32_000), TimerKind::F)));
    let (events, _) = run(&mut tx, base, 10_000);
    assert_eq!(events, []);
    tx.handle_response(at(base, 10_000), resp(200));
    assert_eq!(drain(&mut tx, base, at(base, 10_000)), ev(&[(10_000, "deliver 200"), (10_000, "end")]));
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn reliable_times_out_on_f() {
    let (mut tx, base) = start(true);
    let (events, _) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(32_000, "timeout"), (32_000, "end")]));
}

#[test]
fn early_and_repeated_wakeups_do_nothing() {
    let (mut tx, base) = start(false);
    tx.handle_timeout(at(base, 499));
    assert_eq!(drain(&mut tx, base, base), []);
    tx.handle_timeout(at(base, 500));
    tx.handle_timeout(at(base, 500));
    assert_eq!(drain(&mut tx, base, at(base, 500)), ev(&[(500, "send BYE")]));
    tx.handle_response(at(base, 600), resp(200));
    drain_full(&mut tx);
    // Timer E was disarmed by the final response: its old instant does nothing.
    tx.handle_timeout(at(base, 1500));
    tx.handle_timeout(at(base, 5599));
    assert_eq!(drain_full(&mut tx), []);
    tx.handle_timeout(at(base, 5600));
    assert_eq!(drain(&mut tx, base, at(base, 5600)), ev(&[(5600, "end")]));
}

#[test]
fn custom_t1_t2_scale_the_schedule() {
    let base = base();
    let timers = TimerConfig {
        t1: std::time::Duration::from_millis(100),
        t2: std::time::Duration::from_millis(300),
        ..TimerConfig::default()
    };
    let mut tx = ClientNonInvite::new(in_dialog("OPTIONS", BRANCH), false, timers, base);
    drain_full(&mut tx);
    let (events, _) = run(&mut tx, base, 10_000);
    // E: 100, 200, 300, 300, ... capped at T2 = 300 ms; F = 64 * 100 ms = 6.4 s.
    let expected: Vec<u64> = [100, 300].into_iter().chain((0..20).map(|n| 600 + 300 * n)).collect();
    assert_eq!(sends(&events), expected);
    assert_eq!(events.last(), Some(&(6400, "end".to_owned())));
}
