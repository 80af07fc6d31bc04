//! What a model's tokens cost and how many fit in its context, as the Claude Code CLI itself
//! reckons them (its model catalogue, read from CLI 2.1.331). An interactive session's
//! transcript records tokens, not cost, so the cost shown is the price table the broker
//! meters with (`assets/prices.toml`) applied to the tokens; a model the table does not list
//! has no cost.

pub use super::broker::Price;

/// Model id prefixes with their context window (tokens), most specific first.
const CONTEXT: &[(&str, u64)] = &[
    ("claude-opus-5", 1_000_000),
    ("claude-opus-4-8", 1_000_000),
    ("claude-sonnet-5", 1_000_000),
    ("claude-haiku-5-5", 1_000_000),
];

/// The shipped price table (`assets/prices.toml`, the broker's), parsed once.
fn table() -> &'static super::broker::Prices {
    static TABLE: std::sync::OnceLock<super::broker::Prices> = std::sync::OnceLock::new();
    TABLE.get_or_init(super::broker::Prices::shipped)
}

/// The price of `model`, when the table lists it (its name or a prefix of it; the table's
/// `default` is not taken: an unknown model has no cost here).
pub fn price_of(model: &str) -> Option<Price> {
    let (price, entry) = table().of(model);
    (entry != "default").then_some(price)
}

/// How many tokens `model`'s context holds (200k when the model is not known).
pub fn context_window(model: &str) -> u64 {
    CONTEXT.iter().find(|(prefix, _)| model.starts_with(prefix)).map(|c| c.1).unwrap_or(200_000)
}

/// Tokens of one or more model answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output).saturating_add(self.cache_write).saturating_add(self.cache_read)
    }

    pub fn add(&mut self, o: &Tokens) {
        // a hostile transcript may claim anything: sums saturate
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
    }

    pub fn sub(&mut self, o: &Tokens) {
        self.input = self.input.saturating_sub(o.input);
        self.output = self.output.saturating_sub(o.output);
        self.cache_write = self.cache_write.saturating_sub(o.cache_write);
        self.cache_read = self.cache_read.saturating_sub(o.cache_read);
    }

    /// Their cost in dollars at `p`.
    pub fn cost(&self, p: &Price) -> f64 {
        (self.input as f64 * p.input + self.output as f64 * p.output + self.cache_write as f64 * p.cache_write + self.cache_read as f64 * p.cache_read)
            / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_own_figure_for_a_small_answer() {
        // `claude -p` reported total_cost_usd 0.00014 for 10 input and 5 output tokens
        let t = Tokens { input: 10, output: 5, ..Default::default() };
        assert!((t.cost(&price_of("claude-opus-5-5").unwrap()) - 0.00014).abs() < 1e-12);
        assert_eq!(context_window("claude-opus-5-5"), 1_000_000);
        assert_eq!(price_of("claude-opus-4-1-20250805").unwrap().input, 15.0);
        assert_eq!(price_of("claude-sonnet-4-5-20250929").unwrap().output, 15.0);
        assert!(price_of("gpt-9").is_none());
        assert_eq!(context_window("gpt-9"), 200_000);
    }
}
