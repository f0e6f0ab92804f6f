//! `lnurl` layer: the [LUD-10](https://github.com/lnurl/luds/blob/luds/10.md) `aes`
//! success action: AES-256-CBC with PKCS#7 padding, keyed by the 32-byte
//! payment preimage, base64 (standard alphabet, padded) ciphertext and IV.
//!
//! Pure; imports only `aes`, `cbc` and `base64`. The caller supplies the random
//! IV (a fresh one per secret), so this module stays deterministic.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::wire::MAX_AES_CIPHERTEXT_CHARS;
use super::Error;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// Encrypts `plaintext` (UTF-8) with `preimage` as the key and `iv`.
///
/// Returns `(ciphertext_base64, iv_base64)`, ready for a
/// [`SuccessAction::Aes`](super::wire::SuccessAction::Aes); refuses a result
/// longer than the 4096 characters LUD-10 allows.
pub fn encrypt(
    preimage: &[u8; 32],
    plaintext: &str,
    iv: [u8; 16],
) -> Result<(String, String), Error> {
    let ciphertext = Encryptor::new(preimage.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let ciphertext_b64 = STANDARD.encode(ciphertext);
    if ciphertext_b64.len() > MAX_AES_CIPHERTEXT_CHARS {
        return Err(Error::InvalidSuccessAction(format!(
            "the secret is too long: encrypted it has {} characters, at most {MAX_AES_CIPHERTEXT_CHARS} are allowed",
            ciphertext_b64.len()
        )));
    }
    Ok((ciphertext_b64, STANDARD.encode(iv)))
}

/// Decrypts a LUD-10 payload with `preimage`; the inverse of [`encrypt`].
pub fn decrypt(preimage: &[u8; 32], ciphertext_b64: &str, iv_b64: &str) -> Result<String, Error> {
    let iv: [u8; 16] = STANDARD
        .decode(iv_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::AesDecrypt("the IV is not the base64 of 16 bytes".into()))?;
    let ciphertext = STANDARD
        .decode(ciphertext_b64)
        .map_err(|_| Error::AesDecrypt("the ciphertext is not valid base64".into()))?;
    let plaintext = Decryptor::new(preimage.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
        .map_err(|_| Error::AesDecrypt("wrong key or damaged ciphertext".into()))?;
    String::from_utf8(plaintext)
        .map_err(|_| Error::AesDecrypt("the secret is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let preimage: [u8; 32] = rand::random();
        let iv: [u8; 16] = rand::random();
        for text in [
            "",
            "hi",
            "exactly sixteen!",
            "Your code: ABCD-1234 ⚡ ünïcødé",
        ] {
            let (c, i) = encrypt(&preimage, text, iv).unwrap();
            assert_eq!(i.len(), 24);
            assert_eq!(decrypt(&preimage, &c, &i).unwrap(), text);
        }
    }

    /// Expected value computed independently with
    /// `openssl enc -aes-256-cbc -K 0001…1f -iv 0f0e…00 -base64` and python `cryptography`.
    #[test]
    fn known_answer() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let iv: [u8; 16] = core::array::from_fn(|i| 15 - i as u8);
        let (c, i) = encrypt(&key, "hello LUD-10", iv).unwrap();
        assert_eq!(c, "XAGFMFDU2B2DbyhCOW0ndg==");
        assert_eq!(i, "Dw4NDAsKCQgHBgUEAwIBAA==");
        assert_eq!(decrypt(&key, &c, &i).unwrap(), "hello LUD-10");
    }

    #[test]
    fn too_long_rejected() {
        // 3056 bytes → 3072 ciphertext bytes → 4096 base64 chars: the largest allowed.
        assert!(encrypt(&[1; 32], &"a".repeat(3055), [0; 16]).is_ok());
        assert!(matches!(
            encrypt(&[1; 32], &"a".repeat(3072), [0; 16]),
            Err(Error::InvalidSuccessAction(_))
        ));
    }

    #[test]
    fn decrypt_errors() {
        let (c, i) = encrypt(&[1; 32], "secret", [2; 16]).unwrap();
        // A wrong key almost always breaks the padding; it never yields the secret.
        assert_ne!(decrypt(&[9; 32], &c, &i), Ok("secret".to_string()));
        assert!(decrypt(&[1; 32], "%%%", &i).is_err());
        assert!(decrypt(&[1; 32], &c, "AAAA").is_err());
        assert!(decrypt(&[1; 32], "AAAA", &i).is_err());
    }
}
