//! The Standard Webhooks signature: `webhook-signature: v1,<base64 of
//! HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, with the id and the
//! Unix timestamp sent as `webhook-id` and `webhook-timestamp`.

use aws_lc_rs::hmac;
use base64::Engine;

/// The three headers of a signed delivery.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SignedHeaders {
    /// `webhook-id`: the event's id, the same on every attempt (receivers deduplicate by it).
    pub id: String,
    /// `webhook-timestamp`: Unix seconds of this attempt (receivers refuse old ones).
    pub timestamp: String,
    /// `webhook-signature`: `v1,` and the base64 HMAC.
    pub signature: String,
}

/// Signs one attempt of an event's delivery.
pub fn sign(key: &hmac::Key, id: &str, timestamp: i64, body: &str) -> SignedHeaders {
    let timestamp = timestamp.to_string();
    let mut context = hmac::Context::with_key(key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.as_bytes());
    context.update(b".");
    context.update(body.as_bytes());
    let tag = context.sign();
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature: format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries: this secret, id, timestamp and payload sign to this value.
    #[test]
    fn signs_the_specification_example() {
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let headers = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            headers.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(headers.timestamp, "1614265330");
    }
}
