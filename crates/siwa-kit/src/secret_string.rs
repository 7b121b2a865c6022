//! The one way siwa holds a secret string (the kit's, and through
//! [`secret_string!`](crate::secret_string!) the service's): it declares a
//! newtype whose `Debug` prints `Name([redacted])`, with no `Display`, no
//! `PartialEq` (compare in constant time, e.g. [`crate::client::State::matches`]),
//! an explicit `secret()` accessor carrying a warning, and its text zeroized
//! on drop.

/// Declares a secret string newtype: doc comments, then the name, then the
/// warning that `secret()`'s documentation carries. Its `Debug` prints
/// `Name([redacted])`; it has no `Display` and no `PartialEq`; its text is
/// zeroized on drop.
///
/// ```
/// siwa_kit::secret_string!(
///     /// A token of ours.
///     OurToken,
///     "Never log it."
/// );
/// let token = OurToken::new("t0p-s3cret");
/// assert_eq!(format!("{token:?}"), "OurToken([redacted])");
/// assert_eq!(token.secret(), "t0p-s3cret");
/// ```
#[macro_export]
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident, $warning:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name($crate::__private::Zeroizing<String>);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self($crate::__private::Zeroizing::new(value.into()))
            }

            /// The value itself.
            ///
            #[doc = $warning]
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}
