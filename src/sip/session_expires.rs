//! Typed Session-Expires (compact `x`) and Min-SE values, RFC 4028 §4 and §5.
//!
//! Malformed values are an error the caller turns into a 400 (request) or a logged ignore (response);
//! there is no zero-length or overflowing interval (checklist: "never a zero-length timer").

use std::fmt;

use super::params::{parse_params, Params};

/// The smallest interval the RFC allows anywhere (§4, §5): an absent Min-SE means this.
pub const MIN_SE_FLOOR: u32 = 90;

/// Who refreshes, relative to the transaction that carries the header (§4, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl fmt::Display for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerHeaderError {
    #[error("empty value")]
    Empty,
    #[error("delta-seconds `{0}` is not a non-negative integer")]
    NotANumber(String),
    #[error("delta-seconds `{0}` is too large")]
    Overflow(String),
    #[error("delta-seconds must be at least 1")]
    Zero,
    #[error("malformed parameters")]
    Params,
    #[error("refresher must be uac or uas, not `{0}`")]
    Refresher(String),
}

/// delta-seconds = 1*DIGIT (RFC 3261 §25.1), bounded to 32 bits (RFC 3261 §20.19 spirit).
fn delta_seconds(text: &str) -> Result<u32, TimerHeaderError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TimerHeaderError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimerHeaderError::NotANumber(text.to_owned()));
    }
    let value: u32 = text.parse().map_err(|_| TimerHeaderError::Overflow(text.to_owned()))?;
    if value == 0 {
        return Err(TimerHeaderError::Zero);
    }
    Ok(value)
}

fn split_value(text: &str) -> Result<(&str, Params), TimerHeaderError> {
    let (value, params) = match text.find(';') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    Ok((value, parse_params(params).ok_or(TimerHeaderError::Params)?))
}

impl SessionExpires {
    pub fn parse(text: &str) -> Result<SessionExpires, TimerHeaderError> {
        let (value, params) = split_value(text)?;
        let delta = delta_seconds(value)?;
        // §4: other parameters are ignored; refresher must be one of the two roles.
        let refresher = match params.get("refresher") {
            None => None,
            Some(Some(r)) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(r)) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(other) => return Err(TimerHeaderError::Refresher(other.unwrap_or("").to_owned())),
        };
        Ok(SessionExpires { delta, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(r) = self.refresher {
            write!(f, ";refresher={r}")?;
        }
        Ok(())
    }
}

/// Min-SE (§5): delta-seconds with ignored generic parameters.
pub fn parse_min_se(text: &str) -> Result<u32, TimerHeaderError> {
    let (value, _params) = split_value(text)?;
    delta_seconds(value)
}
