//! Credentials for an external TURN relay (coturn with `use-auth-secret`),
//! by the TURN REST API scheme: the username is `expiry:user_id` and the
//! password base64(HMAC-SHA1(shared secret, username)). The relay checks
//! them with the same secret and refuses one whose expiry has passed, so
//! nothing is stored and a credential cannot be made without the secret.
//! They are handed out only inside `call_joined`, to a member joining.

use base64::Engine as _;
use concord_common::events::IceServer;
use concord_common::UserId;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::Settings;

/// The configured relays and how to sign for them.
#[derive(Clone)]
pub struct TurnRelays {
    urls: Vec<String>,
    secret: String,
    ttl_secs: u64,
}

impl TurnRelays {
    /// The relays in `settings`, or `None` when none are configured
    /// ([`Settings::load`] checked that URLs and secret come together).
    pub fn from_settings(settings: &Settings) -> Option<TurnRelays> {
        let secret = settings.turn_secret.clone().filter(|s| !s.is_empty())?;
        (!settings.turn_urls.is_empty()).then(|| TurnRelays {
            urls: settings.turn_urls.clone(),
            secret,
            ttl_secs: settings.turn_credential_ttl_secs,
        })
    }

    /// `user`'s credential at Unix second `now`, valid for the configured TTL.
    pub fn issue(&self, user: UserId, now: u64) -> IceServer {
        let username = format!("{}:{user}", now.saturating_add(self.ttl_secs));
        IceServer { urls: self.urls.clone(), credential: sign(&self.secret, &username), username }
    }
}

/// base64(HMAC-SHA1(secret, username)).
fn sign(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relays() -> TurnRelays {
        TurnRelays { urls: vec!["turn:127.0.0.1:3478".into()], secret: "north".into(), ttl_secs: 600 }
    }

    #[test]
    fn a_credential_is_the_rest_api_username_and_its_hmac() {
        let server = relays().issue(UserId(42), 1_700_000_000);
        assert_eq!(server.urls, ["turn:127.0.0.1:3478"]);
        assert_eq!(server.username, "1700000600:42");
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"north",b"1700000600:42",hashlib.sha1).digest()).decode())'
        assert_eq!(server.credential, "c8I0lj+p3rCkviOWydupNEuAt5Q=");
    }

    #[test]
    fn credentials_differ_by_user_and_by_time() {
        let relays = relays();
        let ada = relays.issue(UserId(1), 1_700_000_000);
        assert_ne!(ada.credential, relays.issue(UserId(2), 1_700_000_000).credential);
        assert_ne!(ada.credential, relays.issue(UserId(1), 1_700_000_001).credential);
    }
}
