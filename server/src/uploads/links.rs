//! Signed, expiring attachment links: `/api/attachments/{id}?expires=T&signature=S`
//! (and `/thumbnail`), where S is an HMAC-SHA256 of the id, the variant and T
//! under a key derived from the server's secret — so every instance that
//! shares the secret accepts every other's links, and nothing is stored.

use concord_common::AttachmentId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Links expire on a whole hour, so a link stays the same for an hour (and
/// browsers can cache the picture behind it).
const ROUND_SECS: u64 = 3600;

/// The file itself or a picture's thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The file as uploaded (a picture without its metadata).
    File,
    /// A picture's thumbnail.
    Thumbnail,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::File => "file",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// Not a link this server made (or altered).
    Forged,
    /// A genuine link past its expiry.
    Expired,
}

/// Makes and checks attachment links.
#[derive(Clone)]
pub struct AttachmentLinks {
    key: [u8; 32],
    ttl_secs: u64,
}

impl AttachmentLinks {
    /// Links keyed from the server's `secret`, each valid at least `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut derive = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(b"concord attachment links v1");
        Self { key: derive.finalize().into_bytes().into(), ttl_secs }
    }

    fn signature(&self, id: AttachmentId, variant: Variant, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{id}:{}:{expires}", variant.label()).as_bytes());
        mac
    }

    /// The link to `variant` of attachment `id`, made at `now_secs` (Unix).
    pub fn url(&self, id: AttachmentId, variant: Variant, now_secs: u64) -> String {
        let expires = (now_secs + self.ttl_secs).div_ceil(ROUND_SECS) * ROUND_SECS;
        let signature = hex(&self.signature(id, variant, expires).finalize().into_bytes());
        let path = match variant {
            Variant::File => format!("/api/attachments/{id}"),
            Variant::Thumbnail => format!("/api/attachments/{id}/thumbnail"),
        };
        format!("{path}?expires={expires}&signature={signature}")
    }

    /// Whether `expires` and `signature` from a link to `variant` of `id` are
    /// genuine and still valid at `now_secs`.
    pub fn check(
        &self,
        id: AttachmentId,
        variant: Variant,
        expires: u64,
        signature: &str,
        now_secs: u64,
    ) -> Result<(), LinkFault> {
        let bytes = unhex(signature).ok_or(LinkFault::Forged)?;
        // Constant-time comparison.
        self.signature(id, variant, expires).verify_slice(&bytes).map_err(|_| LinkFault::Forged)?;
        if now_secs > expires {
            return Err(LinkFault::Expired);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (u64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v.to_string(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[test]
    fn a_link_works_until_it_expires_and_only_for_what_it_names() {
        let links = AttachmentLinks::new(b"a secret of the server, 32 bytes!", 86_400);
        let id = AttachmentId(42);
        let url = links.url(id, Variant::File, 1_000_000);
        assert!(url.starts_with("/api/attachments/42?expires="));
        let (expires, signature) = parts(&url);
        assert!((1_000_000 + 86_400..1_000_000 + 86_400 + ROUND_SECS).contains(&expires));
        assert_eq!(links.check(id, Variant::File, expires, &signature, 1_000_001), Ok(()));
        assert_eq!(links.check(id, Variant::File, expires, &signature, expires + 1), Err(LinkFault::Expired));
        // Another file, the other variant, a later expiry or another server's key: forged.
        assert_eq!(
            links.check(AttachmentId(43), Variant::File, expires, &signature, 1),
            Err(LinkFault::Forged)
        );
        assert_eq!(links.check(id, Variant::Thumbnail, expires, &signature, 1), Err(LinkFault::Forged));
        assert_eq!(links.check(id, Variant::File, expires + 3600, &signature, 1), Err(LinkFault::Forged));
        let other = AttachmentLinks::new(b"another server's secret, 32 byte", 86_400);
        assert_eq!(other.check(id, Variant::File, expires, &signature, 1), Err(LinkFault::Forged));
        assert_eq!(links.check(id, Variant::File, expires, "zz", 1), Err(LinkFault::Forged));
        // Made within the same hour: the same link.
        assert_eq!(links.url(id, Variant::File, 1_000_000 + 10), url);
    }
}
