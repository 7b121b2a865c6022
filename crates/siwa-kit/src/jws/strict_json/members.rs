//! The member-span index: where each member of the top-level object sits in
//! the text, so that claims are read without a second parser.

use std::borrow::Cow;

use super::grammar::unescape;

/// One member of the top-level object: byte ranges of its name (between the
/// quotes) and of its value (as written).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct Member {
    pub(crate) name_start: u32,
    pub(crate) name_end: u32,
    /// Whether the name holds escape sequences.
    pub(crate) name_escaped: bool,
    pub(crate) value_start: u32,
    pub(crate) value_end: u32,
    /// Whether the value, when a string, holds escape sequences.
    pub(crate) value_escaped: bool,
}

impl Member {
    /// The name, unescaped.
    pub(crate) fn name<'t>(&self, text: &'t str) -> Cow<'t, [u8]> {
        let raw = &text.as_bytes()[self.name_start as usize..self.name_end as usize];
        if self.name_escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// The value as written.
    pub(crate) fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.value_start as usize..self.value_end as usize)
            .unwrap_or_default()
    }
}

/// The members of the top-level object, in order; the first
/// [`INLINE_MEMBERS`] without allocating.
#[derive(Debug, Default)]
pub(crate) struct Members {
    inline: [Member; INLINE_MEMBERS],
    spill: Vec<Member>,
    len: usize,
}

const INLINE_MEMBERS: usize = 24;

impl Members {
    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    // Inlined, so the member is written in place: passed through memory, it
    // would be read back wider than it was written, and such a load waits.
    #[inline(always)]
    pub(super) fn push(&mut self, member: Member) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = member,
            None => self.spill.push(member),
        }
        self.len += 1;
    }

    /// How many members.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The i-th member.
    pub(super) fn get(&self, index: usize) -> Option<&Member> {
        if index >= self.len {
            return None;
        }
        self.inline
            .get(index)
            .or_else(|| self.spill.get(index - INLINE_MEMBERS))
    }

    /// Every member, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.inline[..self.len.min(INLINE_MEMBERS)]
            .iter()
            .chain(&self.spill)
    }
}
