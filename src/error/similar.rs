//! How alike two names are, for the "did you mean" of an error.

/// How many edits turn `a` into `b`, if at most `most`: a byte inserted, deleted or
/// replaced, or two neighbouring bytes swapped (the optimal string alignment distance). Time
/// linear in `a` for a short `b`, and none when the lengths differ by more than `most`.
pub(crate) fn edits_within(a: &[u8], b: &[u8], most: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > most {
        return None;
    }
    // Three rows of the distance table: the one before last, the last, and this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let replace = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + replace);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    Some(last[b.len()]).filter(|&edits| edits <= most)
}

#[cfg(test)]
mod tests {
    use super::edits_within;

    #[test]
    fn edits_are_counted_up_to_the_bound() {
        assert_eq!(edits_within(b"args", b"args", 1), Some(0));
        assert_eq!(edits_within(b"arg", b"args", 1), Some(1));
        assert_eq!(edits_within(b"evn", b"env", 1), Some(1));
        assert_eq!(edits_within(b"comand", b"command", 2), Some(1));
        assert_eq!(edits_within(b"get_sum", b"get-sum", 1), Some(1));
        assert_eq!(edits_within(b"headrs", b"headers", 1), Some(1));
        assert_eq!(edits_within(b"abc", b"xyz", 2), None);
        assert_eq!(edits_within(b"a", b"abcd", 2), None);
    }
}
