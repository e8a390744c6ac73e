//! Digest authentication as a client (RFC 3261 §22.2–§22.4 with RFC 2617 / RFC 7616: MD5 and SHA-256,
//! qop=auth, nc, cnonce). The hashing and challenge grammar come from the digest_auth crate; this file
//! maps SIP's headers onto it: 401 → WWW-Authenticate → Authorization, 407 → Proxy-Authenticate →
//! Proxy-Authorization, with the request's method and Request-URI as the digest method and uri.

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};

use super::headers::HeaderName;
use super::message::{Request, Response};

/// A digest challenge from a 401 or 407.
#[derive(Debug, Clone)]
pub struct Challenge {
    answer_in: HeaderName,
    prompt: WwwAuthenticateHeader,
}

impl Challenge {
    /// The first Digest challenge of a 401/407 that we can answer (MD5 or SHA-256, with or without qop).
    pub fn from_response(response: &Response) -> Option<Challenge> {
        let (asked_in, answer_in) = match response.status {
            401 => (HeaderName::WWW_AUTHENTICATE, HeaderName::AUTHORIZATION),
            407 => (HeaderName::PROXY_AUTHENTICATE, HeaderName::PROXY_AUTHORIZATION),
            _ => return None,
        };
        let prompt = response
            .headers
            .get_all(&asked_in)
            .filter(|v| v.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("digest")))
            .find_map(|v| WwwAuthenticateHeader::parse(v.trim_start()[6..].trim()).ok())?;
        Some(Challenge { answer_in, prompt })
    }

    pub fn realm(&self) -> &str {
        &self.prompt.realm
    }

    /// Adds the credentials header answering this challenge to `request` (which must already carry its
    /// final method, Request-URI and body). `cnonce` comes from the caller's seeded generator.
    pub fn authorize(&mut self, request: &mut Request, username: &str, password: &str, cnonce: &str) -> bool {
        let uri = request.uri.to_string();
        let mut context = AuthContext::new_with_method(
            username,
            password,
            uri,
            Some(request.body.as_ref()),
            HttpMethod(request.method.as_str().to_owned().into()),
        );
        context.set_custom_cnonce(cnonce);
        match self.prompt.respond(&context) {
            Ok(answer) => {
                request.headers.remove(&self.answer_in);
                request.headers.push(self.answer_in.clone(), answer.to_header_string());
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, realm = %self.prompt.realm, "cannot answer digest challenge");
                false
            }
        }
    }
}

/// Whether a request already carries credentials (a second challenge then means they were refused).
pub fn has_credentials(request: &Request) -> bool {
    request.headers.contains(&HeaderName::AUTHORIZATION)
        || request.headers.contains(&HeaderName::PROXY_AUTHORIZATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Message};

    fn message(text: &str) -> Message {
        parse(text.replace('\n', "\r\n").as_bytes()).expect("valid message")
    }

    fn challenge(status: u16, header: &str, value: &str) -> Response {
        let Message::Response(r) = message(&format!(
            "SIP/2.0 {status} Auth\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n\
             To: <sip:b@y>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\n{header}: {value}\nContent-Length: 0\n\n"
        )) else {
            panic!("response expected")
        };
        r
    }

    fn invite() -> Request {
        let Message::Request(r) = message(
            "INVITE sip:+15551234@trunk.example.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\n\
             From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        ) else {
            panic!("request expected")
        };
        r
    }

    fn param<'a>(header: &'a str, name: &str) -> &'a str {
        let start = header.find(&format!("{name}=")).expect(name) + name.len() + 1;
        let rest = &header[start..];
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        &rest[..rest.find(['"', ',']).unwrap_or(rest.len())]
    }

    fn md5(s: &str) -> String {
        use md5::Digest;
        format!("{:x}", md5::Md5::digest(s.as_bytes()))
    }

    fn sha256(s: &str) -> String {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(s.as_bytes()))
    }

    #[test]
    fn proxy_challenge_md5_qop_auth_matches_rfc_2617_formula() {
        let response = challenge(
            407,
            "Proxy-Authenticate",
            r#"Digest realm="trunk", nonce="abc123", qop="auth", algorithm=MD5"#,
        );
        let mut ch = Challenge::from_response(&response).expect("challenge");
        let mut request = invite();
        assert!(ch.authorize(&mut request, "alice", "s3cret", "c0ffee"));
        let header = request.headers.get(&HeaderName::PROXY_AUTHORIZATION).expect("Proxy-Authorization");
        assert!(
            !request.headers.contains(&HeaderName::AUTHORIZATION),
            "407 is answered in Proxy-Authorization"
        );
        let ha1 = md5("alice:trunk:s3cret");
        let ha2 = md5("INVITE:sip:+15551234@trunk.example.com");
        let expected = md5(&format!("{ha1}:abc123:00000001:c0ffee:auth:{ha2}"));
        assert_eq!(param(header, "response"), expected);
        assert_eq!(param(header, "uri"), "sip:+15551234@trunk.example.com");
        assert_eq!(param(header, "nc"), "00000001");
        assert!(has_credentials(&request));
    }

    #[test]
    fn www_challenge_sha256_without_qop() {
        let response =
            challenge(401, "WWW-Authenticate", r#"Digest realm="r", nonce="n1", algorithm=SHA-256"#);
        let mut ch = Challenge::from_response(&response).expect("challenge");
        let mut request = invite();
        assert!(ch.authorize(&mut request, "bob", "pw", "cn"));
        let header = request.headers.get(&HeaderName::AUTHORIZATION).expect("Authorization");
        let ha1 = sha256("bob:r:pw");
        let ha2 = sha256("INVITE:sip:+15551234@trunk.example.com");
        assert_eq!(param(header, "response"), sha256(&format!("{ha1}:n1:{ha2}")));
        assert_eq!(ch.realm(), "r");
    }

    #[test]
    fn no_digest_no_challenge() {
        assert!(Challenge::from_response(&challenge(401, "WWW-Authenticate", r#"Basic realm="x""#)).is_none());
        assert!(Challenge::from_response(&challenge(
            403,
            "WWW-Authenticate",
            r#"Digest realm="x", nonce="y""#
        ))
        .is_none());
        assert!(!has_credentials(&invite()));
    }
}
