//! Arithmetic expressions for the calculator's `evaluate` tool: numbers (with decimals),
//! `+ - * /`, parentheses and unary signs. A small recursive-descent parser; nothing is `eval`ed.
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub(crate) enum ExprError {
    #[error("empty expression")]
    Empty,
    #[error("unexpected `{0}` at position {1}")]
    Unexpected(char, usize),
    #[error("unexpected end of expression")]
    UnexpectedEnd,
    #[error("invalid number `{0}`")]
    BadNumber(String),
    #[error("division by zero")]
    DivisionByZero,
    #[error("expression nested too deeply")]
    TooDeep,
    #[error("result is not a finite number")]
    NotFinite,
}

/// Deep enough for any real expression, shallow enough to keep the stack safe.
const MAX_DEPTH: usize = 200;

pub(crate) fn evaluate(input: &str) -> Result<f64, ExprError> {
    let mut p = Parser {
        chars: input.char_indices().collect(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.peek().is_none() {
        return Err(ExprError::Empty);
    }
    let value = p.expr()?;
    p.skip_ws();
    if let Some((i, c)) = p.peek_indexed() {
        return Err(ExprError::Unexpected(c, i));
    }
    if !value.is_finite() {
        return Err(ExprError::NotFinite);
    }
    Ok(value)
}

struct Parser {
    chars: Vec<(usize, char)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn peek_indexed(&self) -> Option<(usize, char)> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self) -> Result<f64, ExprError> {
        let mut value = self.term()?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some('+') => {
                    self.pos += 1;
                    value += self.term()?;
                }
                Some('-') => {
                    self.pos += 1;
                    value -= self.term()?;
                }
                _ => return Ok(value),
            }
        }
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<f64, ExprError> {
        let mut value = self.unary()?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    value *= self.unary()?;
                }
                Some('/') => {
                    self.pos += 1;
                    let divisor = self.unary()?;
                    if divisor == 0.0 {
                        return Err(ExprError::DivisionByZero);
                    }
                    value /= divisor;
                }
                _ => return Ok(value),
            }
        }
    }

    /// unary := ('-' | '+') unary | primary
    fn unary(&mut self) -> Result<f64, ExprError> {
        self.skip_ws();
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(-self.nested(Self::unary)?)
            }
            Some('+') => {
                self.pos += 1;
                self.nested(Self::unary)
            }
            _ => self.primary(),
        }
    }

    /// primary := number | '(' expr ')'
    fn primary(&mut self) -> Result<f64, ExprError> {
        self.skip_ws();
        match self.peek_indexed() {
            None => Err(ExprError::UnexpectedEnd),
            Some((_, '(')) => {
                self.pos += 1;
                let value = self.nested(Self::expr)?;
                self.skip_ws();
                match self.peek_indexed() {
                    Some((_, ')')) => {
                        self.pos += 1;
                        Ok(value)
                    }
                    Some((i, c)) => Err(ExprError::Unexpected(c, i)),
                    None => Err(ExprError::UnexpectedEnd),
                }
            }
            Some((_, c)) if c.is_ascii_digit() || c == '.' => self.number(),
            Some((i, c)) => Err(ExprError::Unexpected(c, i)),
        }
    }

    fn number(&mut self) -> Result<f64, ExprError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos]
            .iter()
            .map(|&(_, c)| c)
            .collect();
        // `str::parse` would also take "1e5", "inf" or "NaN"; only digits and one dot get here.
        if text.matches('.').count() > 1 || text == "." {
            return Err(ExprError::BadNumber(text));
        }
        text.parse().map_err(|_| ExprError::BadNumber(text))
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<f64, ExprError>) -> Result<f64, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::TooDeep);
        }
        let r = f(self);
        self.depth -= 1;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_parentheses_unary_decimals() {
        assert_eq!(evaluate("1 + 2 * 3"), Ok(7.0));
        assert_eq!(evaluate("(1 + 2) * 3"), Ok(9.0));
        assert_eq!(evaluate("10 - 4 - 3"), Ok(3.0));
        assert_eq!(evaluate("8 / 4 / 2"), Ok(1.0));
        assert_eq!(evaluate("-3 * -(2 + 1)"), Ok(9.0));
        assert_eq!(evaluate("2 * -3"), Ok(-6.0));
        assert_eq!(evaluate("+.5 + 1.25"), Ok(1.75));
        assert_eq!(evaluate(" ( ( 42 ) ) "), Ok(42.0));
        assert_eq!(evaluate("7 / 2"), Ok(3.5));
    }

    #[test]
    fn errors() {
        assert_eq!(evaluate(""), Err(ExprError::Empty));
        assert_eq!(evaluate("1 / 0"), Err(ExprError::DivisionByZero));
        assert_eq!(evaluate("1 / (2 - 2)"), Err(ExprError::DivisionByZero));
        assert_eq!(evaluate("1 +"), Err(ExprError::UnexpectedEnd));
        assert_eq!(evaluate("(1 + 2"), Err(ExprError::UnexpectedEnd));
        assert_eq!(evaluate("1 + 2)"), Err(ExprError::Unexpected(')', 5)));
        assert_eq!(evaluate("2 ^ 3"), Err(ExprError::Unexpected('^', 2)));
        assert_eq!(evaluate("1.2.3"), Err(ExprError::BadNumber("1.2.3".into())));
        assert_eq!(evaluate("abs(1)"), Err(ExprError::Unexpected('a', 0)));
        assert_eq!(evaluate(&"(".repeat(1000)), Err(ExprError::TooDeep));
        assert_eq!(evaluate(&"-".repeat(1000)), Err(ExprError::TooDeep));
        let huge = format!("{}1", "9".repeat(400));
        assert_eq!(
            evaluate(&format!("{huge} * {huge}")),
            Err(ExprError::NotFinite)
        );
    }
}
