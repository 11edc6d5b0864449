//! A budget of log lines for an event a server can repeat at will, so that no server can
//! write the host's log at its own rate.

use std::time::{Duration, Instant};

/// How long a window lasts.
const WINDOW: Duration = Duration::from_secs(10);

/// Admits the first `burst` lines of each ten-second window and counts the rest, so that the
/// next line written (or [`LogBudget::take_skipped`]) can say how many were left out.
#[derive(Debug)]
pub(crate) struct LogBudget {
    burst: u32,
    window: Option<Instant>,
    written: u32,
    skipped: u64,
}

impl LogBudget {
    /// A budget of `burst` lines per ten seconds.
    pub(crate) const fn new(burst: u32) -> LogBudget {
        LogBudget {
            burst,
            window: None,
            written: 0,
            skipped: 0,
        }
    }

    /// `Some(skipped)` if a line may be written now, with how many were left out since the
    /// last one written; `None` if this one is to be left out (and is counted).
    pub(crate) fn admit(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .window
            .is_none_or(|started| now.duration_since(started) >= WINDOW)
        {
            self.window = Some(now);
            self.written = 0;
        }
        if self.written < self.burst {
            self.written += 1;
            Some(std::mem::take(&mut self.skipped))
        } else {
            self.skipped += 1;
            None
        }
    }

    /// How many lines were left out since the last one written, counting afresh.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn take_skipped(&mut self) -> u64 {
        std::mem::take(&mut self.skipped)
    }
}

/// `" (N more like it left out)"`, or nothing for none.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn left_out(skipped: u64) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!(" ({skipped} more like it left out)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_written_and_the_rest_counted_until_the_next_window() {
        let mut budget = LogBudget::new(10);
        for _ in 0..10 {
            assert_eq!(budget.admit(), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(budget.admit(), None);
        }
        // A new window: the next line says how many were left out.
        budget.window = Some(Instant::now() - WINDOW);
        assert_eq!(budget.admit(), Some(1000));
        assert_eq!(budget.admit(), Some(0));
        assert_eq!(budget.admit(), Some(0));
        budget.written = 10;
        assert_eq!(budget.admit(), None);
        assert_eq!(budget.take_skipped(), 1);
        assert_eq!(budget.take_skipped(), 0);
        assert_eq!(left_out(0), "");
        assert_eq!(left_out(3), " (3 more like it left out)");
    }
}
