//! Byte offsets to LSP positions and back, in UTF-16 code units (the
//! protocol's default) or UTF-8 bytes when the client offers them.

/// How `character` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// Line starts of one text.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex { starts }
    }

    /// Updates the index after `start..end` of the old text was replaced
    /// by `insert`: lines before the edit stay, lines after it move; the
    /// cost is the number of lines, not the size of the text.
    pub fn edit(&mut self, start: usize, end: usize, insert: &str) {
        let delta = insert.len() as isize - (end - start) as isize;
        // Line starts inside the replaced text (after `start`, up to `end`) go.
        let first = self.starts.partition_point(|&s| s <= start);
        let after = self.starts.partition_point(|&s| s <= end);
        let added = insert.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| start + i + 1);
        let moved: Vec<usize> = self.starts[after..].iter().map(|&s| (s as isize + delta) as usize).collect();
        self.starts.truncate(first);
        self.starts.extend(added);
        self.starts.extend(moved);
    }

    /// `(line, character)` of a byte offset (clamped into the text).
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts[line];
        let mut end = offset;
        while end > start && !text.is_char_boundary(end) {
            end -= 1;
        }
        let segment = &text[start..end];
        let character = match enc {
            Encoding::Utf8 => segment.len(),
            Encoding::Utf16 => segment.encode_utf16().count(),
        };
        (line as u32, character as u32)
    }

    /// The byte offset of a position; past the end of a line is its end,
    /// past the last line is the end of the text.
    pub fn offset(&self, text: &str, line: u32, character: u32, enc: Encoding) -> usize {
        let Some(&start) = self.starts.get(line as usize) else { return text.len() };
        let end = self.starts.get(line as usize + 1).map_or(text.len(), |&e| e.saturating_sub(1));
        let line_text = &text[start..end.max(start)];
        let mut units = 0u32;
        for (i, c) in line_text.char_indices() {
            if units >= character {
                return start + i;
            }
            units += match enc {
                Encoding::Utf8 => c.len_utf8() as u32,
                Encoding::Utf16 => c.len_utf16() as u32,
            };
        }
        start + line_text.len()
    }

    /// The number of lines.
    pub fn lines(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_counts_surrogate_pairs_and_utf8_counts_bytes() {
        let text = "a𝜓b\nψ = 1\n";
        let idx = LineIndex::new(text);
        let b = text.find('b').unwrap();
        assert_eq!(idx.position(text, b, Encoding::Utf16), (0, 3));
        assert_eq!(idx.position(text, b, Encoding::Utf8), (0, 5));
        assert_eq!(idx.offset(text, 0, 3, Encoding::Utf16), b);
        let eq = text.find('=').unwrap();
        assert_eq!(idx.position(text, eq, Encoding::Utf16), (1, 2));
        assert_eq!(idx.offset(text, 1, 3, Encoding::Utf8), eq);
        assert_eq!(idx.offset(text, 9, 0, Encoding::Utf16), text.len());
        assert_eq!(idx.offset(text, 0, 99, Encoding::Utf16), 6);
    }

    #[test]
    fn edits_keep_the_index_equal_to_a_fresh_one() {
        let mut text = String::from("ab\ncd\n\nef");
        let mut idx = LineIndex::new(&text);
        for (start, end, insert) in [(1, 1, "x\ny"), (0, 4, ""), (2, 6, "\n\n"), (0, 0, "\n"), (3, 3, "q")] {
            let end = end.min(text.len());
            text.replace_range(start..end, insert);
            idx.edit(start, end, insert);
            assert_eq!(idx.starts, LineIndex::new(&text).starts, "{text:?}");
        }
    }
}
