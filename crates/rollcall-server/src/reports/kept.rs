//! The latest few values a report worked out, most recently used last: what
//! the report layer keeps between requests (a viewer's cut of the data, a users
//! listing), each found again only by what it was made from.

use std::sync::{Arc, Mutex};

/// At most `N` values; past that, the one used least recently goes.
pub struct Kept<T, const N: usize> {
    values: Mutex<Vec<Arc<T>>>,
}

impl<T, const N: usize> Default for Kept<T, N> {
    fn default() -> Self {
        Kept {
            values: Mutex::default(),
        }
    }
}

impl<T, const N: usize> Kept<T, N> {
    /// The latest kept value `wanted` accepts, now the most recently used. A
    /// poisoned lock finds nothing.
    pub fn find(&self, wanted: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let mut values = self.values.lock().ok()?;
        let i = values.iter().rposition(|v| wanted(v))?;
        let value = values.remove(i);
        values.push(Arc::clone(&value));
        Some(value)
    }

    /// Keeps `value` as the most recently used, dropping the least recently
    /// used past `N`.
    pub fn keep(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        if let Ok(mut values) = self.values.lock() {
            if values.len() >= N {
                values.remove(0);
            }
            values.push(Arc::clone(&value));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_past_the_limit() {
        let kept: Kept<u32, 2> = Kept::default();
        kept.keep(1);
        kept.keep(2);
        // 1 is used again, so 2 goes when 3 comes.
        assert_eq!(kept.find(|&v| v == 1).as_deref(), Some(&1));
        kept.keep(3);
        assert_eq!(kept.find(|&v| v == 1).as_deref(), Some(&1));
        assert_eq!(kept.find(|&v| v == 3).as_deref(), Some(&3));
        assert!(kept.find(|&v| v == 2).is_none(), "2 was dropped");
    }
}
