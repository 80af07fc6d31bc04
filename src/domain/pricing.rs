//! What a model's tokens cost and how many fit in its context, as the Claude Code CLI itself
//! reckons them (its model catalogue, read from CLI 2.1.331: list prices in US dollars per
//! million tokens). An interactive session's transcript records tokens, not cost, so the cost
//! shown is this table applied to the tokens; a model the table does not know has no cost.

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Writing the prompt cache (5-minute entries, the CLI's default).
    pub cache_write: f64,
    pub cache_read: f64,
}

const fn price(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Price {
    Price { input, output, cache_write, cache_read }
}

/// Model id prefixes, most specific first, with their price and context window.
const MODELS: &[(&str, Price, u64)] = &[
    ("claude-opus-5-5", price(4.0, 20.0, 5.0, 0.2), 1_000_000),
    ("claude-opus-5", price(5.0, 25.0, 6.25, 0.5), 1_000_000),
    ("claude-opus-4-8", price(5.0, 25.0, 6.25, 0.5), 1_000_000),
    ("claude-opus-4-7", price(5.0, 25.0, 6.25, 0.5), 200_000),
    ("claude-opus-4-6", price(5.0, 25.0, 6.25, 0.5), 200_000),
    ("claude-opus-4-5", price(5.0, 25.0, 6.25, 0.5), 200_000),
    ("claude-opus-4", price(15.0, 75.0, 18.75, 1.5), 200_000),
    ("claude-sonnet-5", price(2.0, 10.0, 2.5, 0.2), 1_000_000),
    ("claude-sonnet-4", price(3.0, 15.0, 3.75, 0.3), 200_000),
    ("claude-3-7-sonnet", price(3.0, 15.0, 3.75, 0.3), 200_000),
    ("claude-3-5-sonnet", price(3.0, 15.0, 3.75, 0.3), 200_000),
    ("claude-haiku-5-5", price(0.1, 0.5, 0.125, 0.01), 1_000_000),
    ("claude-haiku-4-5", price(1.0, 5.0, 1.25, 0.1), 200_000),
    ("claude-3-5-haiku", price(0.8, 4.0, 1.0, 0.08), 200_000),
];

fn find(model: &str) -> Option<&'static (&'static str, Price, u64)> {
    MODELS.iter().find(|(prefix, _, _)| model.starts_with(prefix))
}

/// The price of `model`, when known.
pub fn price_of(model: &str) -> Option<Price> {
    find(model).map(|m| m.1)
}

/// How many tokens `model`'s context holds (200k when the model is not known).
pub fn context_window(model: &str) -> u64 {
    find(model).map(|m| m.2).unwrap_or(200_000)
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
