//! Expansion of `${VAR}`, `${VAR:-default}` and `${env:VAR}` in config strings.

/// Expands `${VAR}`, `${VAR:-default}` and `${env:VAR}` in `value` (see the module docs).
/// The error is the message.
///
/// One pass without recursion: the braces are matched first, then `value` is copied left to
/// right, a reference replaced by its variable's value or, when the default is used, by the
/// default copied in place; a stack keeps where each enclosing default ends. The time is
/// linear in `value` and the values inserted, and nesting uses the heap, not the stack.
pub(super) fn expand(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    expand_quoting(value, lookup, true)
}

/// [`expand`] for a secret: its errors never quote any of `value`, only the names of
/// variables that are not set.
pub(super) fn expand_secret(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    expand_quoting(value, lookup, false)
}

/// [`expand`], with errors that quote the part of `value` that is wrong if `quote`.
fn expand_quoting(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    quote: bool,
) -> Result<String, String> {
    let braces = match_braces(value);
    let mut out = String::with_capacity(value.len());
    // Copying `value[at..end]`; `ends` holds where each enclosing default ends.
    let mut at = 0;
    let mut end = value.len();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        let Some(open) = value[at..end].find("${").map(|i| at + i) else {
            out.push_str(&value[at..end]);
            let Some(outer) = ends.pop() else {
                return Ok(out);
            };
            // Go on past the `}` that closes the default.
            at = end + 1;
            end = outer;
            continue;
        };
        out.push_str(&value[at..open]);
        let close = braces
            .binary_search_by_key(&open, |&(open, _)| open)
            .ok()
            .and_then(|i| braces[i].1)
            .ok_or_else(|| {
                if quote {
                    format!("unterminated `${{` in `{}`", shortened(&value[open..]))
                } else {
                    "unterminated `${` (the value is not shown)".to_owned()
                }
            })?;
        let inner = open + 2;
        match reference(&value[inner..close], lookup, quote)? {
            Resolved::Value(value) => {
                out.push_str(&value);
                at = close + 1;
            }
            Resolved::Default(offset) => {
                ends.push(end);
                at = inner + offset;
                end = close;
            }
        }
    }
}

/// The most of a quoted part of a value that an error shows, in characters.
const QUOTED_CHARS: usize = 60;

/// `part`, cut after [`QUOTED_CHARS`] characters (with `...`): a message quotes what is
/// wrong, not a whole default of any length.
fn shortened(part: &str) -> std::borrow::Cow<'_, str> {
    match part.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}...", &part[..end]).into(),
        None => part.into(),
    }
}

/// The byte offset of each `${` in `value`, in order, with that of the `}` that closes it
/// (`None` if none does). A `}` closes the innermost open `${`; outside any, it is text.
fn match_braces(value: &str) -> Vec<(usize, Option<usize>)> {
    let bytes = value.as_bytes();
    let mut braces: Vec<(usize, Option<usize>)> = Vec::new();
    // Indices into `braces` of the `${` not closed yet, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                open.push(braces.len());
                braces.push((i, None));
                i += 1;
            }
            b'}' => {
                if let Some(index) = open.pop() {
                    braces[index].1 = Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    braces
}

/// What a reference stands for.
enum Resolved {
    /// The variable's value.
    Value(String),
    /// The default, which starts at this byte offset of the reference's contents.
    Default(usize),
}

/// Resolves one reference, given what is between `${` and `}`. Its default is not looked at.
/// Errors quote the reference if `quote`.
fn reference(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    quote: bool,
) -> Result<Resolved, String> {
    // Only made for an error: formatting `inner` for every reference would copy each
    // enclosing default once per level of nesting.
    let shown = || {
        if quote {
            format!("`${{{}}}`", shortened(inner))
        } else {
            "a `${...}`".to_owned()
        }
    };
    if inner.starts_with("input:") {
        return Err(format!(
            "{} asks for a VS Code input, and inputs are not supported; \
             use an environment variable instead",
            shown()
        ));
    }
    let Some((name, default)) = split_reference(inner) else {
        return Err(format!(
            "{} is not a variable reference; use `${{NAME}}` or `${{NAME:-default}}`",
            shown()
        ));
    };
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(Resolved::Default(default)),
        (Some(value), _) => Ok(Resolved::Value(value)),
        (None, Some(default)) => Ok(Resolved::Default(default)),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set and has no default"
        )),
    }
}

/// The variable name of a reference's contents (`NAME`, `NAME:-default`, either with `env:`
/// before the name) and the byte offset of its default; `None` if the contents are anything
/// else. Reads only as far as the name, so a long default is not scanned here.
fn split_reference(inner: &str) -> Option<(&str, Option<usize>)> {
    let word = |from: usize| {
        inner[from..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let (mut start, mut len) = (0, word(0));
    // `env:` is a prefix, but `env:-default` is the variable `env` with a default.
    if &inner[..len] == "env" && inner[len..].starts_with(':') && !inner[len..].starts_with(":-") {
        start = len + 1;
        len = word(start);
    }
    let name = &inner[start..start + len];
    if !name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
    {
        return None;
    }
    match &inner[start + len..] {
        "" => Some((name, None)),
        rest if rest.starts_with(":-") => Some((name, Some(start + len + 2))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::ServerEntry;
    use crate::config::file::test_support::*;

    fn expand_with_env(value: &str) -> Result<String, String> {
        let env = env();
        expand(value, &|name| env.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn expansion_rules() {
        assert_eq!(expand_with_env("${HOME_DIR}").unwrap(), "/home/me");
        assert_eq!(
            expand_with_env("a${TOKEN}b${PORT}c").unwrap(),
            "as3cretb8080c"
        );
        assert_eq!(expand_with_env("${env:TOKEN}").unwrap(), "s3cret");
        // The default is used only when the variable is unset or empty.
        assert_eq!(expand_with_env("${TOKEN:-dflt}").unwrap(), "s3cret");
        assert_eq!(expand_with_env("${UNSET:-dflt}").unwrap(), "dflt");
        assert_eq!(expand_with_env("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(expand_with_env("${UNSET:-}").unwrap(), "");
        assert_eq!(expand_with_env("${UNSET:-a b:c-d}").unwrap(), "a b:c-d");
        // Set but empty counts as set without a default.
        assert_eq!(expand_with_env("[${EMPTY}]").unwrap(), "[]");
        // Defaults may nest, and are expanded only when used.
        assert_eq!(expand_with_env("${UNSET:-${TOKEN}}").unwrap(), "s3cret");
        assert_eq!(expand_with_env("${UNSET:-${NOPE:-x}y}z").unwrap(), "xyz");
        assert_eq!(expand_with_env("${TOKEN:-${NOPE}}").unwrap(), "s3cret");
        // Values are not expanded again.
        assert_eq!(expand_with_env("${DOLLAR}").unwrap(), "${NOT_EXPANDED}");
        // A `$` not followed by `{` is literal; `$${` is a `$` then a reference.
        assert_eq!(expand_with_env("$HOME $ a$").unwrap(), "$HOME $ a$");
        assert_eq!(expand_with_env("$$").unwrap(), "$$");
        assert_eq!(expand_with_env("$${TOKEN}").unwrap(), "$s3cret");
        assert_eq!(expand_with_env("{}").unwrap(), "{}");
        assert_eq!(expand_with_env("x}").unwrap(), "x}");
        assert_eq!(expand_with_env("").unwrap(), "");
        assert_eq!(expand_with_env("é${PORT}ü").unwrap(), "é8080ü");
        // `env:` is VS Code's prefix, but `env:-` is a variable `env` with a default.
        assert_eq!(expand_with_env("${env:UNSET:-d}").unwrap(), "d");
        assert_eq!(expand_with_env("${env:-d}").unwrap(), "d");
        // A default that is not used is not checked beyond its braces.
        assert_eq!(
            expand_with_env("${TOKEN:-${1bad}${input:x}}").unwrap(),
            "s3cret"
        );
        assert_eq!(
            expand_with_env("<${UNSET:-a${EMPTY:-b${NOPE:-c}d}e}>${PORT}").unwrap(),
            "<abcde>8080"
        );
    }

    #[test]
    fn expansion_errors() {
        let error = expand_with_env("a ${HOME_DIRX} b").unwrap_err();
        assert_eq!(
            error,
            "environment variable `HOME_DIRX` is not set and has no default"
        );
        assert!(
            expand_with_env("${UNSET:-${ALSO_UNSET}}")
                .unwrap_err()
                .contains("`ALSO_UNSET` is not set")
        );
        let error = expand_with_env("${input:api-key}").unwrap_err();
        assert!(error.contains("`${input:api-key}`"), "{error}");
        assert!(error.contains("inputs are not supported"), "{error}");
        let error = expand_with_env("x ${TOKEN").unwrap_err();
        assert!(error.contains("unterminated `${`"), "{error}");
        assert!(error.contains("`${TOKEN`"), "{error}");
        assert!(
            expand_with_env("${UNSET:-${X}")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(expand_with_env("${").unwrap_err().contains("unterminated"));
        for bad in [
            "${}",
            "${A B}",
            "${1X}",
            "${X-y}",
            "${X:=y}",
            "${:-y}",
            "${env:}",
            "${env::-y}",
            "${env:env:X}",
            "${A${B}}",
            "${UNSET:-${9}}",
        ] {
            let error = expand_with_env(bad).unwrap_err();
            assert!(
                error.contains("is not a variable reference"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn secret_expansion_errors_quote_no_part_of_the_value() {
        let env = env();
        let lookup = |name: &str| env.get(name).map(|v| (*v).to_owned());
        assert_eq!(expand_secret("a${TOKEN}b", &lookup).unwrap(), "as3cretb");
        for (value, needle) in [
            (
                "hunter2${NOT_SET}",
                "environment variable `NOT_SET` is not set",
            ),
            ("hunter2${ab cd}", "is not a variable reference"),
            ("hunter2${input:pw}", "inputs are not supported"),
            ("hunter2${TOKEN", "unterminated `${`"),
        ] {
            let error = expand_secret(value, &lookup).unwrap_err();
            assert!(error.contains(needle), "{value}: {error}");
            for part in ["hunter2", "ab cd", "input:pw", "TOKEN"] {
                assert!(!error.contains(part), "{value}: {error}");
            }
        }
    }

    /// A file whose server's command is `depth` nested defaults of an unset variable around
    /// `x`: `${UNSET:-${UNSET:-...x...}}`.
    fn nested_defaults(depth: usize) -> String {
        format!(
            r#"{{"mcpServers": {{"a": {{"command": "{}x{}"}}}}}}"#,
            "${UNSET:-".repeat(depth),
            "}".repeat(depth)
        )
    }

    /// Parses `text` on a new thread with a stack of `stack` bytes; a stack overflow would
    /// abort the test process.
    fn parse_on_stack(text: String, stack: usize) -> Vec<ServerEntry> {
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || parse_ok(&text))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deeply_nested_defaults_expand_on_a_small_stack() {
        let entries = parse_on_stack(nested_defaults(6_000), 2 << 20);
        assert_eq!(stdio(&entries, "a").command, "x");
        let entries = parse_on_stack(nested_defaults(25_000), 2 << 20);
        assert_eq!(stdio(&entries, "a").command, "x");
    }

    #[test]
    fn five_megabytes_of_nested_defaults_expand_within_the_bound() {
        // 500 000 levels, 5 MB: each level's default used to be copied into a message that was
        // never shown, which took 87 s in a release build; now 0.1 s (a second in a debug
        // build).
        let text = nested_defaults(500_000);
        assert!(text.len() > 5_000_000);
        let entries = parse_within(text, std::time::Duration::from_secs(10));
        assert_eq!(stdio(&entries, "a").command, "x");
    }

    #[test]
    fn errors_quote_at_most_sixty_characters_of_the_value() {
        let long = format!("${{9:-{}}}", "y".repeat(100_000));
        let error = expand_with_env(&long).unwrap_err();
        assert!(error.starts_with("`${9:-yyy"), "{error}");
        assert!(error.len() < 200, "{} bytes", error.len());
        assert!(error.contains("yyy...}`"), "{error}");

        let error = expand_with_env(&format!("${{UNSET:-{}", "é".repeat(100))).unwrap_err();
        assert!(error.contains("unterminated"), "{error}");
        assert_eq!(
            error.matches('é').count(),
            60 - "${UNSET:-".len(),
            "{error}"
        );
    }
}
