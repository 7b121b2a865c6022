//! The one way the kit holds a secret string: `secret_string!` declares a
//! newtype whose `Debug` prints `Name([redacted])`, with no `Display`, no
//! `PartialEq` (compare in constant time, e.g. [`crate::client::State::matches`]),
//! an explicit `secret()` accessor carrying a warning, and its text zeroized
//! on drop.

/// Declares a secret string newtype: doc comments, then the name, then the
/// warning that `secret()`'s documentation carries.
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident, $warning:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(::zeroize::Zeroizing<String>);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(::zeroize::Zeroizing::new(value.into()))
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

pub(crate) use secret_string;
