//! Tool names that LLM function-calling APIs accept: [`ToolNames`] and
//! [`is_valid_tool_name`].
//!
//! A host that hands the tools of many MCP servers to an LLM must give each tool one name,
//! unique across servers, that the API accepts. [`ToolNames`] documents the naming scheme.

use std::collections::{BTreeMap, BTreeSet};

/// The longest name the APIs accept.
const MAX_LEN: usize = 64;
/// A hub's separator unless it is given another, and the one used when the one given is
/// not usable.
pub(crate) const DEFAULT_SEPARATOR: &str = "__";
/// The longest separator accepted.
const MAX_SEPARATOR_LEN: usize = 8;
/// Length of the `_` + 8 hex digits suffix.
const SUFFIX_LEN: usize = 9;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Maps `(server, tool)` pairs to names an LLM function-calling API accepts, and back.
///
/// LLM APIs only accept tool names matching `^[a-zA-Z0-9_-]{1,64}$` (OpenAI's rule;
/// Anthropic's is similar), so a host that offers the tools of many MCP servers at once needs
/// one such *qualified* name per `(server, tool)` pair. Every qualified name matches that
/// pattern whatever the inputs, distinct pairs always get distinct names, and
/// [`resolve`](ToolNames::resolve) gives back the original strings.
///
/// # The scheme
///
/// 1. *Sanitize*: every `char` of the server and tool names outside `[a-zA-Z0-9_-]` becomes one
///    `_` (one per `char`, so `"é"` and `"🙂"` each become a single `_`).
/// 2. *Base form*: `sanitize(server) + separator + sanitize(tool)`. A separator that is empty,
///    longer than 8 chars, or not made only of `[a-zA-Z0-9_-]` is replaced by `"__"`.
/// 3. A pair keeps its base form when that is at most 64 chars and no other pair in the map
///    has the same base form.
/// 4. Otherwise (too long, or shared with another pair) *every* pair with that base form gets
///    `_` + 8 lowercase hex digits of a hash of its original (unsanitized) names, after the
///    base cut to its first 55 chars if longer, so that the name fits in 64 chars. The hash is
///    the low 32 bits of FNV-1a 64 over the bytes of `server`, a 0 byte, and the bytes of
///    `tool`.
/// 5. If a suffixed name is already taken, by a plain name or by an earlier suffixed name
///    (taking pairs in the byte order of `server`, then `tool`), the pair is re-hashed with a
///    counter `n = 1, 2, …` appended to the hash input (a 0 byte, then `n` as 8 little-endian
///    bytes) until its name is unique. Plain names are never displaced by this step.
///
/// The result depends only on the set of pairs and on the separator: not on their order, nor
/// on duplicates, nor on the process. Adding a pair leaves every other name as it was, except
/// the names of pairs whose base form or name it collides with (and, after an improbable
/// 32-bit hash coincidence, names that step 5 then moves out of the way).
///
/// ```
/// use mcp_dispatch::ToolNames;
///
/// let names = ToolNames::new("__", [("files", "read"), ("web", "fetch.url")]);
/// assert_eq!(names.qualified("files", "read"), Some("files__read"));
/// assert_eq!(names.qualified("web", "fetch.url"), Some("web__fetch_url"));
/// assert_eq!(names.resolve("web__fetch_url"), Some(("web", "fetch.url")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ToolNames {
    /// Qualified name to `(server, tool)`.
    by_qualified: BTreeMap<String, (String, String)>,
    /// Server, then tool, to qualified name.
    by_pair: BTreeMap<String, BTreeMap<String, String>>,
}

impl ToolNames {
    /// Builds the map. `separator` joins server and tool (the Hub uses "__").
    ///
    /// Duplicate pairs collapse to one entry; the order of `tools` does not matter. A
    /// `separator` that is empty, longer than 8 chars, or has a char outside `[a-zA-Z0-9_-]`
    /// is replaced by `"__"`. A pair's name is `sanitize(server) + separator + sanitize(tool)`
    /// (each char outside `[a-zA-Z0-9_-]` becoming `_`) when that is at most 64 chars and
    /// unique in the map; otherwise it is that base, cut to fit, followed by `_` and 8 hex
    /// digits of a hash of the pair, as described under [`ToolNames`].
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// // "b.c" and "b_c" both sanitize to "b_c": both names get a hash suffix.
    /// let names = ToolNames::new("__", [("a", "b.c"), ("a", "b_c"), ("files", "read")]);
    /// assert_eq!(names.qualified("a", "b.c"), Some("a__b_c_845b6b35"));
    /// assert_eq!(names.qualified("a", "b_c"), Some("a__b_c_8544d43c"));
    /// assert_eq!(names.qualified("files", "read"), Some("files__read"));
    ///
    /// // Other separators; "::" is not usable, so "__" is used instead.
    /// let names = ToolNames::new("-", [("files", "read")]);
    /// assert_eq!(names.qualified("files", "read"), Some("files-read"));
    /// let names = ToolNames::new("::", [("files", "read")]);
    /// assert_eq!(names.qualified("files", "read"), Some("files__read"));
    /// ```
    pub fn new<'a, I>(separator: &str, tools: I) -> ToolNames
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let separator = if is_valid_separator(separator) {
            separator
        } else {
            DEFAULT_SEPARATOR
        };
        let pairs: BTreeSet<(&str, &str)> = tools.into_iter().collect();

        let mut groups: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
        for &(server, tool) in &pairs {
            groups
                .entry(base_name(server, separator, tool))
                .or_default()
                .push((server, tool));
        }

        // Plain names first, so that a suffixed name never displaces one.
        let mut names = ToolNames::default();
        let mut suffixed: Vec<((&str, &str), String)> = Vec::new();
        for (base, members) in groups {
            match members[..] {
                [pair] if base.len() <= MAX_LEN => names.insert(base, pair),
                _ => suffixed.extend(members.into_iter().map(|pair| (pair, base.clone()))),
            }
        }

        // In pair order, so that the rare re-hash is deterministic.
        suffixed.sort_unstable();
        for ((server, tool), base) in suffixed {
            // The base is ASCII, so any byte index is a char boundary.
            let prefix = &base[..base.len().min(MAX_LEN - SUFFIX_LEN)];
            let mut counter = 0;
            let name = loop {
                let name = format!(
                    "{prefix}_{:08x}",
                    pair_hash(server, tool, counter) & 0xffff_ffff
                );
                if !names.by_qualified.contains_key(&name) {
                    break name;
                }
                counter += 1;
            };
            names.insert(name, (server, tool));
        }
        names
    }

    /// The qualified name of a pair, if it is in the map.
    ///
    /// `server` and `tool` must be exactly as given to [`new`](ToolNames::new).
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// let names = ToolNames::new("__", [("my server", "read file")]);
    /// assert_eq!(names.qualified("my server", "read file"), Some("my_server__read_file"));
    /// assert_eq!(names.qualified("my_server", "read_file"), None);
    /// ```
    pub fn qualified(&self, server: &str, tool: &str) -> Option<&str> {
        self.by_pair.get(server)?.get(tool).map(String::as_str)
    }

    /// The pair behind a qualified name, exactly as given to `new`.
    ///
    /// Returns `(server, tool)` with the original, unsanitized strings, or `None` if no pair
    /// has that name.
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// let names = ToolNames::new("__", [("git.hub", "issues/list")]);
    /// assert_eq!(names.resolve("git_hub__issues_list"), Some(("git.hub", "issues/list")));
    /// assert_eq!(names.resolve("nope"), None);
    /// ```
    pub fn resolve(&self, qualified: &str) -> Option<(&str, &str)> {
        self.by_qualified
            .get(qualified)
            .map(|(server, tool)| (server.as_str(), tool.as_str()))
    }

    /// Every entry as (qualified, server, tool), sorted by qualified name.
    ///
    /// Names sort by their bytes; server and tool are the original strings.
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// let names = ToolNames::new("__", [("web", "fetch"), ("files", "read")]);
    /// let all: Vec<_> = names.iter().collect();
    /// assert_eq!(all, [("files__read", "files", "read"), ("web__fetch", "web", "fetch")]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
        self.by_qualified
            .iter()
            .map(|(name, (server, tool))| (name.as_str(), server.as_str(), tool.as_str()))
    }

    /// Qualified names probably meant by `name`, which is not one: those of the tools named
    /// `name` itself (given without its server), else those equal to it but for case, else
    /// those within an edit of it (or whose tool's own name is within one or two); at most three, in
    /// order.
    pub(crate) fn similar(&self, name: &str) -> Vec<String> {
        const MOST: usize = 3;
        let mut meant: Vec<String> = self
            .iter()
            .filter(|(_, _, tool)| *tool == name)
            .map(|(qualified, _, _)| qualified.to_owned())
            .take(MOST)
            .collect();
        if meant.is_empty() {
            meant = self
                .iter()
                .filter(|(qualified, _, tool)| {
                    qualified.eq_ignore_ascii_case(name) || tool.eq_ignore_ascii_case(name)
                })
                .map(|(qualified, _, _)| qualified.to_owned())
                .take(MOST)
                .collect();
        }
        if meant.is_empty() && name.len() >= 4 {
            // A slip: of one letter in the qualified name, or of a letter (two in a name
            // longer than five) in the tool's own name.
            let close = |other: &str, most: usize| {
                crate::error::similar::edits_within(name.as_bytes(), other.as_bytes(), most)
                    .is_some()
            };
            meant = self
                .iter()
                .filter(|(qualified, _, tool)| {
                    close(qualified, 1) || close(tool, if tool.len() <= 5 { 1 } else { 2 })
                })
                .map(|(qualified, _, _)| qualified.to_owned())
                .take(MOST)
                .collect();
        }
        meant
    }

    /// The number of entries: distinct pairs given to [`new`](ToolNames::new).
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// let names = ToolNames::new("__", [("a", "x"), ("a", "y"), ("a", "x")]);
    /// assert_eq!(names.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.by_qualified.len()
    }

    /// True if the map has no entries.
    ///
    /// ```
    /// use mcp_dispatch::ToolNames;
    ///
    /// assert!(ToolNames::new("__", []).is_empty());
    /// assert!(ToolNames::default().is_empty());
    /// assert!(!ToolNames::new("__", [("a", "x")]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.by_qualified.is_empty()
    }

    fn insert(&mut self, name: String, (server, tool): (&str, &str)) {
        self.by_pair
            .entry(server.to_owned())
            .or_default()
            .insert(tool.to_owned(), name.clone());
        self.by_qualified
            .insert(name, (server.to_owned(), tool.to_owned()));
    }
}

/// True if `name` matches `^[a-zA-Z0-9_-]{1,64}$`.
///
/// That is: 1 to 64 chars, each an ASCII letter, an ASCII digit, `_` or `-`. Every name a
/// [`ToolNames`] makes passes.
///
/// ```
/// use mcp_dispatch::is_valid_tool_name;
///
/// assert!(is_valid_tool_name("files__read-v2"));
/// assert!(is_valid_tool_name(&"a".repeat(64)));
/// assert!(!is_valid_tool_name(&"a".repeat(65)));
/// assert!(!is_valid_tool_name(""));
/// assert!(!is_valid_tool_name("files.read"));
/// assert!(!is_valid_tool_name("café"));
/// ```
pub fn is_valid_tool_name(name: &str) -> bool {
    // Only ASCII passes, so the byte length is the char length.
    (1..=MAX_LEN).contains(&name.len()) && name.bytes().all(is_name_byte)
}

/// True if `separator` is usable: non-empty, at most 8 chars, only `[a-zA-Z0-9_-]`.
///
/// [`ToolNames::new`] replaces a separator that is not usable by `"__"`.
///
/// ```
/// use mcp_dispatch::ToolNames;
///
/// // "", "a.b" and "123456789" are not usable, so "__" is used; "12345678" is usable.
/// let names = ToolNames::new("", [("s", "t")]);
/// assert_eq!(names.qualified("s", "t"), Some("s__t"));
/// let names = ToolNames::new("a.b", [("s", "t")]);
/// assert_eq!(names.qualified("s", "t"), Some("s__t"));
/// let names = ToolNames::new("123456789", [("s", "t")]);
/// assert_eq!(names.qualified("s", "t"), Some("s__t"));
/// let names = ToolNames::new("12345678", [("s", "t")]);
/// assert_eq!(names.qualified("s", "t"), Some("s12345678t"));
/// ```
pub(crate) fn is_valid_separator(separator: &str) -> bool {
    (1..=MAX_SEPARATOR_LEN).contains(&separator.len()) && separator.bytes().all(is_name_byte)
}

/// True for the bytes of `[a-zA-Z0-9_-]`.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Appends `name` to `out`, each char outside `[a-zA-Z0-9_-]` becoming one `_`.
fn push_sanitized(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| {
        if c.is_ascii() && is_name_byte(c as u8) {
            c
        } else {
            '_'
        }
    }));
}

/// `sanitize(server) + separator + sanitize(tool)`; ASCII when `separator` is valid.
fn base_name(server: &str, separator: &str, tool: &str) -> String {
    let mut base = String::with_capacity(server.len() + separator.len() + tool.len());
    push_sanitized(&mut base, server);
    base.push_str(separator);
    push_sanitized(&mut base, tool);
    base
}

/// FNV-1a 64 over `server`, a 0 byte, `tool`, and, if `counter` is not 0, a 0 byte and
/// `counter` as 8 little-endian bytes.
fn pair_hash(server: &str, tool: &str, counter: u64) -> u64 {
    let counter_bytes = counter.to_le_bytes();
    let tail: &[&[u8]] = if counter == 0 {
        &[]
    } else {
        &[&[0], &counter_bytes]
    };
    let head: [&[u8]; 3] = [server.as_bytes(), &[0], tool.as_bytes()];
    fnv1a_64(head.iter().chain(tail).copied())
}

/// FNV-1a 64 over the concatenation of `parts`.
fn fnv1a_64<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    parts
        .into_iter()
        .flatten()
        .fold(FNV_OFFSET_BASIS, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: a small deterministic generator, since there are no dev-dependencies.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.below(i + 1));
            }
        }
    }

    const ALPHABET: &[char] = &[
        'a', 'b', 'x', 'Z', '0', '7', '_', '-', '.', '/', ' ', ':', 'é', '中', '🙂', '\0', '\n',
        '\t', '\u{7f}', '\u{200b}',
    ];
    /// Chars that all sanitize to `_`, used to make pairs that share a base form.
    const INVALID: &[char] = &['.', '/', ' ', ':', 'é', '中', '🙂', '\0', '\n'];

    fn random_name(rng: &mut Rng) -> String {
        // Mostly short names, so that base forms collide often; some up to 99 chars.
        let len = if rng.below(2) == 0 {
            rng.below(4)
        } else {
            rng.below(100)
        };
        (0..len).map(|_| rng.pick(ALPHABET)).collect()
    }

    /// Another name with the same sanitized form, if `name` has an invalid char.
    fn same_base_variant(rng: &mut Rng, name: &str) -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii() && is_name_byte(c as u8) {
                    c
                } else {
                    rng.pick(INVALID)
                }
            })
            .collect()
    }

    fn nasty_pairs() -> Vec<(String, String)> {
        let long = "x".repeat(500);
        let long_unicode = "🙂".repeat(500);
        let cases: Vec<(&str, &str)> = vec![
            ("", ""),
            ("", "t"),
            ("s", ""),
            (" ", " "),
            ("_", "_"),
            ("__", ""),
            ("", "__"),
            (".", "."),
            ("/", "/"),
            ("..", ".."),
            ("🙂", "🙂"),
            ("🙂🙂", ""),
            ("中文", "é"),
            ("\0", "\0"),
            ("a\0", "b"),
            ("a", "\0b"),
            ("\n\t\r", "\u{7f}"),
            ("x__y", "z"),
            ("x", "y__z"),
            ("x_", "_y"),
            ("a", "b.c"),
            ("a", "b_c"),
            ("a", "b c"),
            ("a", "b/c"),
            ("files", "read"),
            ("files", "read"),
            ("-", "-"),
            (&long, "t"),
            ("s", &long),
            (&long, &long),
            (&long_unicode, &long_unicode),
            (&long_unicode, ""),
            ("", &long_unicode),
        ];
        cases
            .into_iter()
            .map(|(s, t)| (s.to_owned(), t.to_owned()))
            .collect()
    }

    fn random_pairs(rng: &mut Rng, count: usize) -> Vec<(String, String)> {
        let mut pairs = Vec::with_capacity(count);
        while pairs.len() < count {
            let server = random_name(rng);
            let tool = random_name(rng);
            if rng.below(8) == 0 {
                pairs.push((
                    same_base_variant(rng, &server),
                    same_base_variant(rng, &tool),
                ));
            }
            if rng.below(16) == 0 {
                pairs.push((server.clone(), tool.clone())); // a duplicate
            }
            pairs.push((server, tool));
        }
        pairs
    }

    fn build(separator: &str, pairs: &[(String, String)]) -> ToolNames {
        ToolNames::new(
            separator,
            pairs.iter().map(|(s, t)| (s.as_str(), t.as_str())),
        )
    }

    fn entries(names: &ToolNames) -> Vec<(String, String, String)> {
        names
            .iter()
            .map(|(q, s, t)| (q.to_owned(), s.to_owned(), t.to_owned()))
            .collect()
    }

    /// The suffix of a suffixed name, if it is one of the first few re-hashes of the pair.
    fn hash_counter(name: &str, server: &str, tool: &str) -> Option<u64> {
        let suffix = &name[name.len() - 8..];
        (0..8).find(|&n| format!("{:08x}", pair_hash(server, tool, n) & 0xffff_ffff) == suffix)
    }

    /// Checks rules 1, 3, 4 and 7 on `pairs`, and returns the map.
    fn check_contract(separator: &str, pairs: &[(String, String)]) -> ToolNames {
        let names = build(separator, pairs);
        let effective = if is_valid_separator(separator) {
            separator
        } else {
            "__"
        };
        let unique: BTreeSet<(&str, &str)> = pairs
            .iter()
            .map(|(s, t)| (s.as_str(), t.as_str()))
            .collect();
        assert_eq!(names.len(), unique.len());
        assert_eq!(names.is_empty(), unique.is_empty());

        let mut base_counts: BTreeMap<String, usize> = BTreeMap::new();
        for &(s, t) in &unique {
            *base_counts.entry(base_name(s, effective, t)).or_default() += 1;
        }

        let mut seen = BTreeSet::new();
        for &(s, t) in &unique {
            let q = names.qualified(s, t).expect("every pair has a name");
            // Rule 1.
            assert!(is_valid_tool_name(q), "{q:?} for {s:?}, {t:?}");
            // Rule 3.
            assert!(seen.insert(q), "{q:?} given twice");
            // Rule 7.
            assert_eq!(names.resolve(q), Some((s, t)));
            // Rule 4.
            let base = base_name(s, effective, t);
            if base.len() <= MAX_LEN && base_counts[&base] == 1 {
                assert_eq!(q, base);
            } else {
                let kept = base.len().min(MAX_LEN - SUFFIX_LEN);
                assert_eq!(q.len(), kept + SUFFIX_LEN, "{q:?}");
                assert_eq!(&q[..kept], &base[..kept]);
                assert_eq!(&q[kept..=kept], "_");
                assert!(hash_counter(q, s, t).is_some(), "{q:?} for {s:?}, {t:?}");
            }
        }

        // `iter` is sorted by name and agrees with the lookups.
        let all: Vec<_> = names.iter().collect();
        assert_eq!(all.len(), unique.len());
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        for (q, s, t) in all {
            assert_eq!(names.qualified(s, t), Some(q));
        }
        names
    }

    #[test]
    fn fnv1a_64_matches_reference_vectors() {
        assert_eq!(fnv1a_64([&b""[..]]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64([&b"a"[..]]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64([&b"foobar"[..]]), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a_64([&b"foo"[..], b"", b"bar"]), 0x8594_4171_f739_67e8);
        // Server, a 0 byte, tool; then a 0 byte and the counter.
        assert_eq!(pair_hash("a", "b.c", 0), fnv1a_64([&b"a\0b.c"[..]]));
        assert_eq!(
            pair_hash("a", "b.c", 1),
            fnv1a_64([&b"a\0b.c\0"[..], &1u64.to_le_bytes()])
        );
    }

    #[test]
    fn random_and_nasty_pairs_keep_the_contract() {
        let mut rng = Rng::new(1);
        for (round, separator) in ["__", "-", "_", "x", "sep-_09Z", "::", ""]
            .into_iter()
            .enumerate()
        {
            let mut pairs = random_pairs(&mut rng, if round == 0 { 2500 } else { 400 });
            pairs.extend(nasty_pairs());
            let names = check_contract(separator, &pairs);
            let expected = entries(&names);

            // The test data exercises both forms.
            let effective = if is_valid_separator(separator) {
                separator
            } else {
                "__"
            };
            let plain = names
                .iter()
                .filter(|(q, s, t)| *q == base_name(s, effective, t))
                .count();
            assert!(plain > names.len() / 4, "{plain}");
            assert!(plain < names.len(), "{plain}");

            // Rule 5: order and duplicates do not matter.
            for _ in 0..3 {
                let mut shuffled = pairs.clone();
                rng.shuffle(&mut shuffled);
                let extra = shuffled[..shuffled.len() / 10].to_vec();
                shuffled.extend(extra);
                assert_eq!(entries(&build(separator, &shuffled)), expected);
            }
        }
    }

    #[test]
    fn random_pairs_make_suffixed_names() {
        // A sanity check on the generator: collisions and long names do occur.
        let mut rng = Rng::new(2);
        let pairs = random_pairs(&mut rng, 2000);
        let names = build("__", &pairs);
        let suffixed = names
            .iter()
            .filter(|(q, s, t)| *q != base_name(s, "__", t))
            .count();
        assert!(suffixed > 100, "{suffixed}");
    }

    #[test]
    fn plain_names_for_simple_cases() {
        let names = ToolNames::new(
            "__",
            [
                ("files", "read"),
                ("files", "write"),
                ("web", "fetch.url"),
                ("my server", "é"),
                ("", ""),
            ],
        );
        assert_eq!(names.qualified("files", "read"), Some("files__read"));
        assert_eq!(names.qualified("files", "write"), Some("files__write"));
        assert_eq!(names.qualified("web", "fetch.url"), Some("web__fetch_url"));
        assert_eq!(names.qualified("my server", "é"), Some("my_server___"));
        assert_eq!(names.qualified("", ""), Some("__"));
        assert_eq!(names.qualified("files", "nope"), None);
        assert_eq!(names.qualified("nope", "read"), None);
        assert_eq!(names.resolve("files__read"), Some(("files", "read")));
        assert_eq!(names.resolve("files__nope"), None);
        // One `_` per char, even for multi-byte chars.
        let names = ToolNames::new("__", [("🙂", "中文")]);
        assert_eq!(names.qualified("🙂", "中文"), Some("_____"));
    }

    #[test]
    fn colliding_base_forms_all_get_suffixes() {
        let names = ToolNames::new(
            "__",
            [("a", "b.c"), ("a", "b_c"), ("a", "b c"), ("a", "bc")],
        );
        assert_eq!(names.qualified("a", "b.c"), Some("a__b_c_845b6b35"));
        assert_eq!(names.qualified("a", "b_c"), Some("a__b_c_8544d43c"));
        assert_eq!(names.qualified("a", "b c"), Some("a__b_c_843e84cf"));
        assert_eq!(names.qualified("a", "bc"), Some("a__bc"));

        // Collisions across the separator.
        let names = ToolNames::new("__", [("x__y", "z"), ("x", "y__z"), ("x", "y")]);
        assert_eq!(names.qualified("x__y", "z"), Some("x__y__z_ae0f9282"));
        assert_eq!(names.qualified("x", "y__z"), Some("x__y__z_ae448bf0"));
        assert_eq!(names.qualified("x", "y"), Some("x__y"));

        // Alone, each keeps its plain form.
        let names = ToolNames::new("__", [("a", "b.c")]);
        assert_eq!(names.qualified("a", "b.c"), Some("a__b_c"));
        let names = ToolNames::new("__", [("x__y", "z")]);
        assert_eq!(names.qualified("x__y", "z"), Some("x__y__z"));

        // With another separator they do not collide.
        let names = ToolNames::new("-", [("x__y", "z"), ("x", "y__z")]);
        assert_eq!(names.qualified("x__y", "z"), Some("x__y-z"));
        assert_eq!(names.qualified("x", "y__z"), Some("x-y__z"));
    }

    #[test]
    fn long_names_are_cut_and_suffixed() {
        // 61 + 2 + 1 = 64 chars: plain.
        let server = "s".repeat(61);
        let names = ToolNames::new("__", [(server.as_str(), "t")]);
        assert_eq!(
            names.qualified(&server, "t"),
            Some(format!("{server}__t").as_str())
        );

        // 62 + 2 + 1 = 65 chars: cut to 55, then the suffix.
        let server = "s".repeat(62);
        let names = ToolNames::new("__", [(server.as_str(), "t")]);
        let expected = format!("{}_9482ed8b", "s".repeat(55));
        assert_eq!(names.qualified(&server, "t"), Some(expected.as_str()));
        assert_eq!(expected.len(), 64);

        // The cut can fall inside the separator or the tool.
        let server = "s".repeat(54);
        let tool = "t".repeat(20);
        let names = ToolNames::new("__", [(server.as_str(), tool.as_str())]);
        let q = names.qualified(&server, &tool).unwrap();
        assert_eq!(&q[..56], format!("{server}__").as_str());
        assert_eq!(q.len(), 64);

        // 500 chars of anything.
        let long = "🙂.".repeat(250);
        let names = ToolNames::new("__", [(long.as_str(), long.as_str())]);
        let q = names.qualified(&long, &long).unwrap();
        assert_eq!(q.len(), 64);
        assert!(q[..55].bytes().all(|b| b == b'_'));
        assert_eq!(names.resolve(q), Some((long.as_str(), long.as_str())));
    }

    #[test]
    fn identical_hash_inputs_are_rehashed_in_pair_order() {
        // Both hash the bytes "a\0\0b" and share the base "a___b".
        assert_eq!(pair_hash("a", "\0b", 0), pair_hash("a\0", "b", 0));
        let names = ToolNames::new("__", [("a\0", "b"), ("a", "\0b")]);
        // ("a", "\0b") sorts first and keeps counter 0; the other is re-hashed with 1.
        assert_eq!(names.qualified("a", "\0b"), Some("a___b_0e4f49ca"));
        assert_eq!(names.qualified("a\0", "b"), Some("a___b_773de01f"));
    }

    #[test]
    fn suffixed_names_never_displace_plain_names() {
        // ("a", "b_c_845b6b35") has the plain form "a__b_c_845b6b35", which is what
        // ("a", "b.c") would get with counter 0: the suffixed pair is re-hashed.
        let names = ToolNames::new("__", [("a", "b.c"), ("a", "b_c"), ("a", "b_c_845b6b35")]);
        assert_eq!(
            names.qualified("a", "b_c_845b6b35"),
            Some("a__b_c_845b6b35")
        );
        assert_eq!(names.qualified("a", "b.c"), Some("a__b_c_c2c098ce"));
        assert_eq!(names.qualified("a", "b_c"), Some("a__b_c_8544d43c"));
        check_contract(
            "__",
            &[
                ("a".into(), "b.c".into()),
                ("a".into(), "b_c".into()),
                ("a".into(), "b_c_845b6b35".into()),
            ],
        );
    }

    #[test]
    fn separators() {
        for ok in ["_", "-", "__", "a", "Z9", "12345678", "-_-_-_-_"] {
            assert!(is_valid_separator(ok), "{ok:?}");
        }
        for bad in ["", "123456789", ".", "::", "/", " ", "é", "_é", "\0", "a b"] {
            assert!(!is_valid_separator(bad), "{bad:?}");
            let names = ToolNames::new(bad, [("s", "t")]);
            assert_eq!(names.qualified("s", "t"), Some("s__t"), "{bad:?}");
        }
        let names = ToolNames::new("12345678", [("s", "t")]);
        assert_eq!(names.qualified("s", "t"), Some("s12345678t"));
        // An unusable separator gives exactly the "__" map.
        let pairs = nasty_pairs();
        assert_eq!(entries(&build("::", &pairs)), entries(&build("__", &pairs)));
    }

    #[test]
    fn valid_tool_names() {
        assert!(is_valid_tool_name("a"));
        assert!(is_valid_tool_name("_"));
        assert!(is_valid_tool_name("-"));
        assert!(is_valid_tool_name("0"));
        assert!(is_valid_tool_name("azAZ09_-"));
        assert!(is_valid_tool_name(&"x".repeat(64)));
        assert!(!is_valid_tool_name(&"x".repeat(65)));
        assert!(!is_valid_tool_name(""));
        for bad in [
            "a.b",
            "a/b",
            "a b",
            "a:b",
            "a\0b",
            "a\nb",
            "a\tb",
            "a\u{7f}b",
            "é",
            "中",
            "🙂",
            "a+b",
            "a@b",
            "a\u{200b}b",
            "a\u{a0}b",
        ] {
            assert!(!is_valid_tool_name(bad), "{bad:?}");
        }
        // 64 chars, but more than 64 bytes, and not ASCII.
        assert!(!is_valid_tool_name(&"é".repeat(32)));
        assert!(!is_valid_tool_name(&"é".repeat(64)));
    }

    #[test]
    fn duplicates_collapse() {
        let names = ToolNames::new("__", [("a", "b"), ("a", "b"), ("a", "b")]);
        assert_eq!(names.len(), 1);
        assert_eq!(names.qualified("a", "b"), Some("a__b"));
        // A duplicate does not count as a collision.
        let names = ToolNames::new("__", [("a", "b.c"), ("a", "b.c")]);
        assert_eq!(names.qualified("a", "b.c"), Some("a__b_c"));
        let empty = ToolNames::new("__", []);
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.iter().count(), 0);
        assert_eq!(empty.resolve("__"), None);
    }

    #[test]
    fn adding_a_pair_changes_only_names_it_collides_with() {
        let mut rng = Rng::new(3);
        let mut pairs = random_pairs(&mut rng, 300);
        pairs.extend(nasty_pairs());
        let before = build("__", &pairs);
        let mut changed_any = false;
        for i in 0..200 {
            let new = if i % 2 == 0 {
                (random_name(&mut rng), random_name(&mut rng))
            } else {
                // Often a collision with an existing pair.
                let (s, t) = &pairs[rng.below(pairs.len())];
                (
                    same_base_variant(&mut rng, s),
                    same_base_variant(&mut rng, t),
                )
            };
            let mut more = pairs.clone();
            more.push(new.clone());
            let after = build("__", &more);
            let new_name = after.qualified(&new.0, &new.1).unwrap();
            let new_base = base_name(&new.0, "__", &new.1);
            for (q, s, t) in before.iter() {
                let now = after.qualified(s, t).unwrap();
                if now != q {
                    changed_any = true;
                    assert!(
                        base_name(s, "__", t) == new_base || q == new_name,
                        "{s:?}, {t:?} went from {q:?} to {now:?} when {new:?} was added"
                    );
                }
            }
        }
        assert!(changed_any, "the test should include collisions");

        // By hand: only the pair that now collides changes.
        let mut pairs = vec![("a", "b.c"), ("z", "q"), ("a", "b c"), ("a", "b/c")];
        let before = ToolNames::new("__", pairs.iter().copied());
        assert_eq!(before.qualified("a", "b.c"), Some("a__b_c_845b6b35"));
        assert_eq!(before.qualified("z", "q"), Some("z__q"));
        pairs.push(("y", "w"));
        let after = ToolNames::new("__", pairs.iter().copied());
        assert_eq!(entries(&after).len(), 5);
        for (q, s, t) in before.iter() {
            assert_eq!(after.qualified(s, t), Some(q));
        }
        let single = ToolNames::new("__", [("a", "b_c"), ("z", "q")]);
        assert_eq!(single.qualified("a", "b_c"), Some("a__b_c"));
        let joined = ToolNames::new("__", [("a", "b_c"), ("z", "q"), ("a", "b.c")]);
        assert_eq!(joined.qualified("a", "b_c"), Some("a__b_c_8544d43c"));
        assert_eq!(joined.qualified("z", "q"), Some("z__q"));
    }
}
