//! The member-span index: where each member of the top-level object sits in
//! the text, so that claims are read without a second parser.

use std::borrow::Cow;

use super::grammar::unescape;

/// One member of the top-level object: byte ranges of its name (between the
/// quotes) and of its value (as written), and whether each holds escape
/// sequences. Sixteen bytes: the flags ride in the top bit of each end (a
/// text is shorter than 2 GiB), so that the inline members take little room
/// in the [`Members`] that a verified payload carries.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct Member {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

/// The flag bit of an end.
const ESCAPED: u32 = 1 << 31;

impl Member {
    /// A member from its spans (each end below 2^31) and whether the name,
    /// and the value when a string, hold escape sequences.
    pub(crate) fn new(
        (name_start, name_end, name_escaped): (u32, u32, bool),
        (value_start, value_end, value_escaped): (u32, u32, bool),
    ) -> Self {
        let flag = |escaped: bool| if escaped { ESCAPED } else { 0 };
        Self {
            name_start,
            name_end: name_end | flag(name_escaped),
            value_start,
            value_end: value_end | flag(value_escaped),
        }
    }

    /// The name as written (escapes and all).
    pub(super) fn name_bytes<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        &text[self.name_start as usize..(self.name_end & !ESCAPED) as usize]
    }

    /// Whether the value, when a string, holds escape sequences.
    pub(crate) fn value_escaped(&self) -> bool {
        self.value_end & ESCAPED != 0
    }

    /// The name, unescaped.
    pub(crate) fn name<'t>(&self, text: &'t str) -> Cow<'t, [u8]> {
        let raw = self.name_bytes(text.as_bytes());
        if self.name_end & ESCAPED != 0 {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// The value as written.
    pub(crate) fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.value_start as usize..(self.value_end & !ESCAPED) as usize)
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

const INLINE_MEMBERS: usize = 16;

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
