//! How text becomes words, the same way for dones and for queries.
//!
//! Runs of letters and digits are words. Scripts written without spaces between words get no
//! dictionary here (ICU's word segmenter needs several megabytes of dictionaries and a long
//! build); instead:
//! - a Han, kana or other CJK character is a word of its own;
//! - Thai, Lao, Khmer and Myanmar runs become overlapping pairs of characters (bigrams), so
//!   `ประชุม` is indexed as `ปร ระ ะช ชุ ุม`.
//!
//! A query word of several such tokens becomes a phrase (the tokens in order, adjacent), so a
//! Thai or Chinese word is found inside a sentence and the same characters in another order are
//! not. The limitation: a single Thai character alone matches only a single-character run.
//!
//! Lower-casing and folding of accents (`Café` → `cafe`) follow in [`analyzer`]. There is no
//! stemming: it is language-specific and a team's dones are in whatever languages its members
//! write.
//!
//! Invariant: documents and queries go through the same [`analyzer`]; the index's
//! [`super::INDEX_VERSION`] must change whenever its output changes.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The analyzer of the `text` field (registered on the index by name).
pub(crate) const ANALYZER: &str = "donebot_text";

/// Words longer than this many bytes are dropped (hashes, base64 blobs).
const MAX_WORD_BYTES: usize = 64;

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens of `text` as [`analyzer`] makes them.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().clone());
    }
    out
}

/// Splits text into words for any script (see the module docs).
#[derive(Clone, Default)]
pub struct WordTokenizer {
    /// The tokens of the text being read are the first `len`; the ones after are kept from
    /// earlier texts so that their strings' memory is reused, not allocated per word.
    tokens: Vec<Token>,
    len: usize,
}

pub struct WordTokens<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Not part of a word.
    Gap,
    /// Letters and digits of scripts that separate words by spaces.
    Word,
    /// Every character is a word.
    Ideograph,
    /// Thai, Lao, Khmer, Myanmar: split into overlapping bigrams.
    Bigram,
}

fn class(c: char) -> Class {
    match c as u32 {
        0x2E80..=0x2FDF      // CJK radicals, Kangxi radicals
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x3FFFF  // CJK extensions B and later
            => Class::Ideograph,
        // Thai and Lao (their vowel and tone marks included: they are not alphanumeric but
        // belong to the syllable), Myanmar, Khmer and Khmer symbols. Their punctuation and
        // spaces are gaps.
        0x0E01..=0x0E2E | 0x0E30..=0x0E4E | 0x0E50..=0x0E59
        | 0x0E81..=0x0EDF
        | 0x1000..=0x1049 | 0x1050..=0x109F
        | 0x1780..=0x17D3 | 0x17E0..=0x17E9 | 0x19E0..=0x19FF
            => Class::Bigram,
        _ if c.is_alphanumeric() => Class::Word,
        _ => Class::Gap,
    }
}

impl WordTokenizer {
    fn push(&mut self, text: &str, from: usize, to: usize) {
        let position = self.len;
        if position == self.tokens.len() {
            self.tokens.push(Token::default());
        }
        let token = &mut self.tokens[position];
        token.offset_from = from;
        token.offset_to = to;
        token.position = position;
        token.position_length = 1;
        token.text.clear();
        token.text.push_str(&text[from..to]);
        self.len += 1;
    }

    /// A run of a bigram script, `[from, to)`: overlapping pairs of characters, or the one
    /// character of a run of one.
    fn push_bigrams(&mut self, text: &str, from: usize, to: usize) {
        let starts: Vec<usize> = text[from..to]
            .char_indices()
            .map(|(i, _)| from + i)
            .collect();
        if starts.len() == 1 {
            self.push(text, from, to);
            return;
        }
        for (i, &start) in starts.iter().enumerate().take(starts.len() - 1) {
            let end = starts.get(i + 2).copied().unwrap_or(to);
            self.push(text, start, end);
        }
    }
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokens<'a> {
        self.len = 0;
        // The run being read: its class and first byte.
        let mut run: Option<(Class, usize)> = None;
        for (i, c) in text.char_indices() {
            let k = class(c);
            if let Some((rk, start)) = run
                && (rk != k || k == Class::Ideograph)
            {
                self.finish(text, rk, start, i);
                run = None;
            }
            if k != Class::Gap && run.is_none() {
                run = Some((k, i));
            }
        }
        if let Some((rk, start)) = run {
            self.finish(text, rk, start, text.len());
        }
        WordTokens {
            tokens: &mut self.tokens[..self.len],
            next: 0,
        }
    }
}

impl WordTokenizer {
    fn finish(&mut self, text: &str, class: Class, from: usize, to: usize) {
        match class {
            Class::Gap => {}
            Class::Word | Class::Ideograph => self.push(text, from, to),
            Class::Bigram => self.push_bigrams(text, from, to),
        }
    }
}

impl TokenStream for WordTokens<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    // Like tantivy's own streams, `token` is only valid after `advance` returned `true`.
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokens(&mut analyzer(), text)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn words_fold_case_and_accents() {
        assert_eq!(
            words("Fixed the Café's <menu>!"),
            ["fixed", "the", "cafe", "s", "menu"]
        );
        assert_eq!(words("v2.3 e-mail"), ["v2", "3", "e", "mail"]);
    }

    #[test]
    fn ideographs_are_words_of_their_own() {
        assert_eq!(words("今天的会议ok"), ["今", "天", "的", "会", "议", "ok"]);
    }

    #[test]
    fn thai_lao_and_khmer_become_bigrams_with_their_offsets() {
        assert_eq!(words("ประชุม"), ["ปร", "ระ", "ะช", "ชุ", "ุม"]);
        assert_eq!(words("ก"), ["ก"]);
        assert_eq!(words("ສະບາຍ"), ["ສະ", "ະບ", "ບາ", "າຍ"]);
        assert_eq!(words("ខ្មែរ"), ["ខ្", "្ម", "មែ", "ែរ"]);
        let text = "ok ประชุม, done";
        let t = tokens(&mut analyzer(), text);
        assert_eq!(&text[t[1].offset_from..t[1].offset_to], "ปร");
        assert_eq!(&text[t[5].offset_from..t[5].offset_to], "ุม");
        assert_eq!(
            t.iter().map(|t| t.position).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5, 6]
        );
    }
}
