//! The form body of the token and revocation endpoints: `application/x-www-form-urlencoded`,
//! each parameter at most once (RFC 6749 §3.2).

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

use super::errors::{Code, OAuthError};

/// A parsed form.
#[derive(Debug)]
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    /// The body of a request, whose content type must be a form's.
    pub(crate) fn of_request(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::new(
                Code::InvalidRequest,
                "send the parameters as application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    /// Parses a form body; a repeated parameter is an error.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::new(
                    Code::InvalidRequest,
                    "a parameter is repeated",
                ));
            }
        }
        Ok(Self(params))
    }

    /// A parameter, if sent (an empty value counts as absent, RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be sent.
    pub(crate) fn require(
        &self,
        name: &'static str,
        description: &'static str,
    ) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::new(Code::InvalidRequest, description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_once_and_the_content_type_checked() {
        let form = Form::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), None);
        assert_eq!(form.get("c"), Some("x y"));
        assert_eq!(
            Form::parse(b"a=1&a=2").unwrap_err().code,
            Code::InvalidRequest
        );
        let mut headers = HeaderMap::new();
        assert!(Form::of_request(&headers, b"a=1").is_err());
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(Form::of_request(&headers, b"a=1").is_err());
        headers.insert(
            header::CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(Form::of_request(&headers, b"a=1").is_ok());
    }
}
