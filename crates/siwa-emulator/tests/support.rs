//! Starting an emulator on a free port, and speaking to it as a client would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use siwa_emulator::{ConfigBuilder, Emulator, Options, RunningEmulator, TeamBuilder, UserBuilder};
use siwa_kit::clock::{Clock, ManualClock, SystemClock, UnixTime};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::ClientSecretBuilder;

pub(crate) const TEAM: &str = "DEF123GHIJ";
pub(crate) const KID: &str = "ABC123DEFG";
pub(crate) const WEB: &str = "com.example.web";
pub(crate) const IOS: &str = "com.example.ios";
pub(crate) const REDIRECT: &str = "https://app.example.com/auth/apple/callback";

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siwa-kit/tests/fixtures")
}

pub(crate) fn key_pem() -> String {
    std::fs::read_to_string(fixtures().join("AuthKey_ABC123DEFG.p8")).unwrap()
}

/// Two teams: ours (a web client and an app) and another with the same redirect URI.
fn config(notification_url: Option<&str>) -> ConfigBuilder {
    let config = ConfigBuilder::new()
        .team(
            TeamBuilder::new(TEAM)
                .key_file(KID, "AuthKey_ABC123DEFG.pub.pem")
                .client(WEB, [REDIRECT])
                .native_client(IOS),
        )
        .team(
            TeamBuilder::new("OTHER12345")
                .key_file("ZZZ999YYYX", "AuthKey_ZZZ999YYYX.p8")
                .client("com.other.web", [REDIRECT]),
        )
        .user(UserBuilder::alice())
        .user(UserBuilder::bob());
    match notification_url {
        Some(url) => config.notification_url(url),
        None => config,
    }
}

/// A running emulator, its clock, and an HTTP client that does not follow redirects.
pub(crate) struct Apple {
    pub(crate) running: RunningEmulator,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) http: reqwest::Client,
}

impl Apple {
    pub(crate) async fn start() -> Self {
        Self::start_with(None, None).await
    }

    pub(crate) async fn start_with(
        notification_url: Option<&str>,
        state_file: Option<PathBuf>,
    ) -> Self {
        let config = config(notification_url).build(&fixtures()).unwrap();
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let options = Options {
            clock: Some(clock.clone() as Arc<dyn Clock>),
            state_file,
        };
        let running = Emulator::with_options(config, options)
            .unwrap()
            .start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            running,
            clock,
            http,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now().secs()
    }

    /// A good client secret for `client_id`, made by our builder.
    pub(crate) fn secret(&self, client_id: &str) -> String {
        let key = SigningKey::from_pem(&key_pem()).unwrap();
        ClientSecretBuilder::new(
            TeamId::new(TEAM).unwrap(),
            KeyId::new(KID).unwrap(),
            ClientId::new(client_id).unwrap(),
        )
        .sign(&key, UnixTime::from_secs(self.now()))
        .unwrap()
        .secret()
        .to_owned()
    }

    /// GET on the authorize route with `emulator_user`; the form_post fields.
    pub(crate) async fn authorize(
        &self,
        prefix: &str,
        params: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let response = self
            .http
            .get(self.url(&format!("{prefix}/authorize")))
            .query(params)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{:?}",
            response.headers().get("x-emulator-reason")
        );
        hidden_fields(&response.text().await.unwrap())
    }

    pub(crate) async fn web_sign_in(&self, user: &str) -> HashMap<String, String> {
        self.authorize(
            "/auth",
            &[
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "code id_token"),
                ("response_mode", "form_post"),
                ("scope", "name email"),
                ("state", "state-1"),
                ("nonce", "nonce-1"),
                ("emulator_user", user),
            ],
        )
        .await
    }

    /// The entries of `GET /emulator/revocations`, oldest first.
    pub(crate) async fn revocations(&self) -> Vec<serde_json::Value> {
        let list: serde_json::Value = self
            .http
            .get(self.url("/emulator/revocations"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["revocations"].as_array().unwrap().clone()
    }

    /// POST a form to a route; status, X-Emulator-Reason and JSON body.
    pub(crate) async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    pub(crate) async fn exchange(
        &self,
        prefix: &str,
        client_id: &str,
        code: &str,
        redirect: Option<&str>,
    ) -> Reply {
        let secret = self.secret(client_id);
        let mut form = vec![
            ("client_id", client_id),
            ("client_secret", secret.as_str()),
            ("grant_type", "authorization_code"),
            ("code", code),
        ];
        if let Some(redirect) = redirect {
            form.push(("redirect_uri", redirect));
        }
        self.post_form(&format!("{prefix}/token"), &form).await
    }
}

/// A response, read.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) reason: Option<String>,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let reason = headers
            .get("x-emulator-reason")
            .map(|v| v.to_str().unwrap().to_owned());
        Self {
            status,
            reason,
            headers,
            text: response.text().await.unwrap(),
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    #[track_caller]
    pub(crate) fn assert_error(&self, code: &str) {
        assert_eq!(self.status, 400, "{self:?}");
        assert_eq!(
            self.json(),
            serde_json::json!({ "error": code }),
            "{self:?}"
        );
    }
}

/// The hidden inputs of an HTML form.
pub(crate) fn hidden_fields(html: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for tag in html.split("<input").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        if !tag.contains(r#"type="hidden""#) {
            continue;
        }
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + tag[start..].find('"')?;
            Some(unescape(&tag[start..end]))
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.insert(name, value);
        }
    }
    fields
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The claims of a JWT, unverified (verification is the verifier's tests' job).
pub(crate) fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub(crate) fn header(jwt: &str) -> serde_json::Value {
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// How a crafted secret is signed.
pub(crate) enum Sign {
    Raw(&'static str),
    Der,
}

/// A client secret from raw JSON, signed by the `p256` crate with a fixture key.
pub(crate) fn craft(header: &str, claims: &str, sign: Sign) -> String {
    let b64 = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let file = match sign {
        Sign::Raw(file) => file,
        Sign::Der => "AuthKey_ABC123DEFG.p8",
    };
    let pem = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let bytes = match sign {
        Sign::Raw(_) => signature.to_bytes().to_vec(),
        Sign::Der => signature.to_der().as_bytes().to_vec(),
    };
    format!("{input}.{}", b64(&bytes))
}
