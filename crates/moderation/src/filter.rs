//! [`ContentFilter`] and its word-list implementation, [`WordList`].

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// Decides whether a text may be relayed. Applied to every chat text before it reaches the
/// partner; a refused text is answered `CONTENT_REFUSED` and goes nowhere.
pub trait ContentFilter: Send + Sync + std::fmt::Debug + 'static {
    /// Whether `text` may go out.
    fn allows(&self, text: &str) -> bool;
}

/// Refuses texts that contain a listed word or phrase, compared after Unicode compatibility
/// normalisation (NFKC: `ｂａｄ` and `𝐛𝐚𝐝` are `bad`), case folding, and removal of invisible
/// characters (`b\u{200B}ad` is `bad`). Words are whole: a listed `ass` does not refuse `class`.
/// A phrase (an entry with spaces) matches its words in a row.
#[derive(Debug, Clone, Default)]
pub struct WordList {
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
}

impl WordList {
    /// A list from text: one word or phrase per line; blank lines and lines starting with `#`
    /// are skipped.
    pub fn parse(list: &str) -> Self {
        let mut parsed = Self::default();
        for line in list.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = words_of(line);
            match words.len() {
                0 => {}
                1 => {
                    parsed.words.extend(words.pop());
                }
                _ => parsed.phrases.push(words),
            }
        }
        parsed
    }

    /// A list read from a file in [`parse`](Self::parse)'s format.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        std::fs::read_to_string(path).map(|text| Self::parse(&text))
    }

    /// How many words and phrases the list holds.
    pub fn len(&self) -> usize {
        self.words.len() + self.phrases.len()
    }

    /// Whether the list holds nothing (it then allows everything).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ContentFilter for WordList {
    fn allows(&self, text: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        let words = words_of(text);
        if words.iter().any(|word| self.words.contains(word)) {
            return false;
        }
        !self.phrases.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|window| window == phrase.as_slice())
        })
    }
}

/// Characters that render as nothing and are used to split a word invisibly.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')
}

/// The words of `text` in normal form: NFKC, lower case (then NFKC again, as lower-casing can
/// leave a text unnormalised), invisible characters dropped, split at everything that is not a
/// letter or a digit.
fn words_of(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkc()
        .filter(|c| !invisible(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfkc()
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> WordList {
        WordList::parse("# a comment\n\nBad\nbuy now\n  spam  \n")
    }

    #[test]
    fn refuses_listed_words_whatever_their_case_width_or_hidden_characters() {
        let list = list();
        assert_eq!(list.len(), 3);
        for text in [
            "bad",
            "this is BAD!",
            "ｂａｄ",
            "𝐛𝐚𝐝 idea",
            "b\u{200B}ad",
            "so...spam",
        ] {
            assert!(!list.allows(text), "{text:?} should be refused");
        }
    }

    #[test]
    fn allows_words_that_only_contain_a_listed_one_and_phrases_split_apart() {
        let list = list();
        for text in ["badge", "a spammer", "buy it now", "hello", ""] {
            assert!(list.allows(text), "{text:?} should be allowed");
        }
        assert!(!list.allows("Buy   NOW, cheap"));
    }

    #[test]
    fn an_empty_list_allows_everything() {
        assert!(WordList::parse("# nothing\n").allows("anything at all"));
    }
}
