//! Envelope encryption at rest.
//!
//! A root key (32 bytes, from configuration) wraps per-scope data keys (one per project, one per
//! organization). Every ciphertext is `version (1) ‖ key id (16) ‖ nonce (12) ‖ AES-256-GCM output`,
//! sealed with the owning row's id as associated data, so a ciphertext copied to another row
//! does not decrypt. A fingerprint of the root key is stored so a server started with another key
//! refuses to run instead of failing on first read.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 16 + 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the encryption key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was sealed with key {0}, which is not available")]
    UnknownKey(Uuid),
    #[error("ciphertext failed authentication")]
    Authentication,
}

/// An AES-256-GCM key with its id.
#[derive(Clone)]
pub struct DataKey {
    id: Uuid,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    fn from_bytes(id: Uuid, bytes: &[u8]) -> Result<Self, CryptoError> {
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| CryptoError::BadKey)?;
        Ok(Self { id, cipher })
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Seals `plaintext` for the row `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // AES-GCM only fails for inputs beyond 64 GiB, which request limits rule out.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a ciphertext sealed by [`DataKey::seal`] for the row `aad`.
    pub fn open(&self, aad: &str, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key_id = key_id_of(ciphertext)?;
        if key_id != self.id {
            return Err(CryptoError::UnknownKey(key_id));
        }
        let nonce = &ciphertext[17..HEADER_LEN];
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &ciphertext[HEADER_LEN..],
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Authentication)
    }

    pub fn seal_str(&self, aad: &str, plaintext: &str) -> Vec<u8> {
        self.seal(aad, plaintext.as_bytes())
    }

    pub fn open_str(&self, aad: &str, ciphertext: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(aad, ciphertext)?).map_err(|_| CryptoError::Malformed)
    }
}

/// The key id a ciphertext names in its header.
pub fn key_id_of(ciphertext: &[u8]) -> Result<Uuid, CryptoError> {
    if ciphertext.len() < HEADER_LEN + 16 || ciphertext[0] != FORMAT_VERSION {
        return Err(CryptoError::Malformed);
    }
    Uuid::from_slice(&ciphertext[1..17]).map_err(|_| CryptoError::Malformed)
}

/// The root key. It never encrypts data directly: it wraps data keys and derives the token
/// signing key.
#[derive(Clone)]
pub struct RootKey {
    bytes: [u8; 32],
    wrapping: DataKey,
    /// [`RootKey::etag_key`], derived once: it is used at every read of secrets.
    etag: [u8; 32],
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
    }
}

impl RootKey {
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let decoded = B64.decode(text.trim()).map_err(|_| CryptoError::BadKey)?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::BadKey)?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, CryptoError> {
        let id_bytes = derive(&bytes, b"rotad root key id v1");
        let mut id = [0u8; 16];
        id.copy_from_slice(&id_bytes[..16]);
        let wrapping = DataKey::from_bytes(Uuid::from_bytes(id), &bytes)?;
        let etag = derive(&bytes, b"rotad etag v1");
        Ok(Self {
            bytes,
            wrapping,
            etag,
        })
    }

    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        B64.encode(bytes)
    }

    /// Hex fingerprint stored in the database to detect a wrong key at start-up.
    pub fn fingerprint(&self) -> String {
        hex(&derive(&self.bytes, b"rotad key fingerprint v1"))
    }

    /// Key for signing access tokens.
    pub fn signing_key(&self) -> [u8; 32] {
        derive(&self.bytes, b"rotad access token signing v1")
    }

    /// Key for the blind index of secret names and lookup hashes.
    pub fn lookup_key(&self) -> [u8; 32] {
        derive(&self.bytes, b"rotad lookup hash v1")
    }

    /// Key for the entity tags of secret reads (docs/SECURITY.md, "Entity tags"): the same on
    /// every replica, and a tag says nothing about the values it covers.
    pub fn etag_key(&self) -> &[u8; 32] {
        &self.etag
    }

    /// Creates a data key; returns it with its wrapped form for storage.
    pub fn new_data_key(&self) -> (DataKey, Vec<u8>) {
        let id = Uuid::new_v4();
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let wrapped = self.wrapping.seal(&id.to_string(), &bytes);
        // 32 bytes always make a valid AES-256 key.
        let key = DataKey::from_bytes(id, &bytes).unwrap_or_else(|_| self.wrapping.clone());
        (key, wrapped)
    }

    /// Unwraps a stored data key.
    pub fn unwrap_data_key(&self, id: Uuid, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = self.wrapping.open(&id.to_string(), wrapped)?;
        DataKey::from_bytes(id, &bytes)
    }
}

fn derive(key: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("fixed-size HMAC key")
    });
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `data` under `key`, hex encoded.
pub fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("key"));
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// `n` random bytes, hex encoded.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> RootKey {
        RootKey::from_base64(&RootKey::generate_base64()).expect("key")
    }

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let root = root();
        let (key, wrapped) = root.new_data_key();
        let again = root.unwrap_data_key(key.id(), &wrapped).expect("unwrap");
        let ct = key.seal_str("row-1", "hunter2");
        assert_eq!(key_id_of(&ct).expect("id"), key.id());
        assert_eq!(again.open_str("row-1", &ct).expect("open"), "hunter2");
        assert!(matches!(
            again.open_str("row-2", &ct),
            Err(CryptoError::Authentication)
        ));
        assert!(!ct.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn another_root_key_cannot_unwrap_and_has_another_fingerprint() {
        let (a, b) = (root(), root());
        let (key, wrapped) = a.new_data_key();
        assert!(b.unwrap_data_key(key.id(), &wrapped).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
    }

    #[test]
    fn rejects_bad_keys_and_truncated_ciphertext() {
        assert!(RootKey::from_base64("c2hvcnQ=").is_err());
        assert!(RootKey::from_base64("not base64!").is_err());
        let (key, _) = root().new_data_key();
        let ct = key.seal_str("r", "v");
        assert!(key.open("r", &ct[..20]).is_err());
    }
}
