//! The spec's surface syntax: statements (lines, or `;`-separated pieces of
//! a line) made of items `value` or `key=value`, where a value is a word
//! with optional call arguments: `leaky_relu(a=0.01)`, `normal(0.02)`.

use super::error::{Source, Span, SpecError};

/// One word of spec text with its position.
#[derive(Clone, Copy, Debug)]
pub struct Word<'a> {
    pub text: &'a str,
    pub span: Span,
}

/// One argument inside a call's parentheses: `a=0.01` or `0.02`.
#[derive(Clone, Debug)]
pub struct Arg<'a> {
    pub key: Option<Word<'a>>,
    pub value: Word<'a>,
}

/// A value: a name with optional parenthesized arguments.
#[derive(Clone, Debug)]
pub struct Value<'a> {
    pub name: Word<'a>,
    pub args: Vec<Arg<'a>>,
    /// The whole value, name through the closing parenthesis.
    pub span: Span,
}

/// One item of a statement: a bare value, or `key=value`.
#[derive(Clone, Debug)]
pub struct Item<'a> {
    pub key: Option<Word<'a>>,
    pub value: Value<'a>,
}

impl Item<'_> {
    /// The span of the whole item, key included.
    pub fn span(&self) -> Span {
        match &self.key {
            Some(k) => Span {
                line: k.span.line,
                col: k.span.col,
                len: self.value.span.col + self.value.span.len - k.span.col,
            },
            None => self.value.span,
        }
    }
}

/// A statement: its keyword (`input`, `dense`, ...) and items.
#[derive(Clone, Debug)]
pub struct Statement<'a> {
    pub keyword: Word<'a>,
    pub items: Vec<Item<'a>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Punct(char),
}

/// Splits the source into statements: `;` and newlines end a statement,
/// `#` starts a comment that runs to the end of the line, or in `--net`
/// text (one line, `;` for newlines) to the next `;`, so that
/// `--net "a # note; b"` keeps `b`. Blank statements are skipped. Inside a double-quoted string `;` and `#` are
/// text. One pass over each line: linear in its length.
pub fn statements(src: &Source) -> Result<Vec<Statement<'_>>, SpecError> {
    let mut out = Vec::new();
    for (line_idx, line) in src.text.lines().enumerate() {
        let mut lexer = Lexer::new(src, line, line_idx + 1);
        loop {
            let (toks, more) = lexer.statement()?;
            if !toks.is_empty() {
                out.push(parse_statement(src, &toks)?);
            }
            if !more {
                break;
            }
        }
    }
    Ok(out)
}

/// Tokens of one line: words and the punctuation `= ( ) ,`. A word is a
/// run of other non-space characters, or a double-quoted string.
struct Lexer<'s, 'a> {
    src: &'s Source,
    line: &'a str,
    line_no: usize,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    /// The 1-based column of the next character.
    col: usize,
}

/// A token and where it is.
type Token<'a> = (Tok<'a>, Span);

impl<'s, 'a> Lexer<'s, 'a> {
    fn new(src: &'s Source, line: &'a str, line_no: usize) -> Self {
        Lexer {
            src,
            line,
            line_no,
            chars: line.char_indices().peekable(),
            col: 1,
        }
    }

    fn bump(&mut self) -> Option<(usize, char)> {
        let next = self.chars.next();
        self.col += usize::from(next.is_some());
        next
    }

    fn span(&self, col: usize, len: usize) -> Span {
        Span {
            line: self.line_no,
            col,
            len,
        }
    }

    /// The tokens up to the end of the next statement, and whether more of
    /// the line follows (a `;` ended it).
    fn statement(&mut self) -> Result<(Vec<Token<'a>>, bool), SpecError> {
        let mut toks = Vec::new();
        while let Some(&(i, c)) = self.chars.peek() {
            let col = self.col;
            match c {
                ';' => {
                    self.bump();
                    return Ok((toks, true));
                }
                '#' => {
                    while let Some((_, c)) = self.bump() {
                        if c == ';' && self.src.net {
                            return Ok((toks, true));
                        }
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '=' | '(' | ')' | ',' => {
                    self.bump();
                    toks.push((Tok::Punct(c), self.span(col, 1)));
                }
                '"' => {
                    self.bump();
                    let end = loop {
                        match self.bump() {
                            Some((j, '"')) => break j,
                            Some(_) => {}
                            None => {
                                let span = self.span(col, self.col - col);
                                return Err(self
                                    .src
                                    .error(span, "unterminated string: expected a closing `\"`"));
                            }
                        }
                    };
                    let span = self.span(col, self.col - col);
                    toks.push((Tok::Word(&self.line[i + 1..end]), span));
                }
                _ => {
                    let mut end = self.line.len();
                    while let Some(&(j, c)) = self.chars.peek() {
                        if c.is_whitespace() || "=(),\";#".contains(c) {
                            end = j;
                            break;
                        }
                        self.bump();
                    }
                    let span = self.span(col, self.col - col);
                    toks.push((Tok::Word(&self.line[i..end]), span));
                }
            }
        }
        Ok((toks, false))
    }
}

struct Cursor<'t, 'a> {
    src: &'t Source,
    toks: &'t [(Tok<'a>, Span)],
    pos: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).map(|t| t.0)
    }

    /// The span of the next token, or just past the last one.
    fn here(&self) -> Span {
        match self.toks.get(self.pos) {
            Some(t) => t.1,
            None => {
                let last = self.toks[self.toks.len() - 1].1;
                Span {
                    line: last.line,
                    col: last.col + last.len,
                    len: 1,
                }
            }
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::Punct(c)) => format!("`{c}`"),
            None => "the end of the line".to_owned(),
        }
    }

    fn word(&mut self, what: &str) -> Result<Word<'a>, SpecError> {
        match self.peek() {
            Some(Tok::Word(text)) => {
                let span = self.here();
                self.pos += 1;
                Ok(Word { text, span })
            }
            _ => Err(self.src.error(
                self.here(),
                format!("expected {what}, found {}", self.found()),
            )),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value<'a>, SpecError> {
        let name = self.word("a name or a number")?;
        let mut args = Vec::new();
        let mut end = name.span;
        if self.eat('(') {
            loop {
                if self.peek() == Some(Tok::Punct(')')) {
                    end = self.here();
                    self.pos += 1;
                    break;
                }
                let first = self.word("an argument such as `a=0.01`")?;
                let arg = if self.eat('=') {
                    Arg {
                        key: Some(first),
                        value: self.word("a value after `=`")?,
                    }
                } else {
                    Arg {
                        key: None,
                        value: first,
                    }
                };
                args.push(arg);
                if self.eat(',') {
                    continue;
                }
                if self.peek() == Some(Tok::Punct(')')) {
                    continue;
                }
                return Err(self.src.error(
                    self.here(),
                    format!("expected `,` or `)`, found {}", self.found()),
                ));
            }
        }
        let span = Span {
            line: name.span.line,
            col: name.span.col,
            len: end.col + end.len - name.span.col,
        };
        Ok(Value { name, args, span })
    }
}

/// Parses the whole of `src` as one value, e.g. the text of `--act
/// "leaky_relu(a=0.1)"`.
pub fn single_value(src: &Source) -> Result<Value<'_>, SpecError> {
    let text = src.text.as_str();
    if text.contains('\n') || text.trim().is_empty() {
        return Err(src.error_whole("expected one value, e.g. `tanh` or `normal(0.01)`"));
    }
    let (toks, more) = Lexer::new(src, text, 1).statement()?;
    if more {
        return Err(src.error_whole("expected one value, found a `;`"));
    }
    let mut cur = Cursor {
        src,
        toks: &toks,
        pos: 0,
    };
    let v = cur.value()?;
    if cur.peek().is_some() {
        return Err(src.error(
            cur.here(),
            format!("expected one value, found more: {}", cur.found()),
        ));
    }
    Ok(v)
}

fn parse_statement<'a>(src: &Source, toks: &[(Tok<'a>, Span)]) -> Result<Statement<'a>, SpecError> {
    let mut cur = Cursor { src, toks, pos: 0 };
    let keyword = cur.word("a line kind (input, dense, loss, optim, data, train)")?;
    let mut items = Vec::new();
    while cur.peek().is_some() {
        let first = cur.value()?;
        let item = if cur.eat('=') {
            if !first.args.is_empty() {
                return Err(src.error(first.span, "a key cannot take arguments"));
            }
            Item {
                key: Some(first.name),
                value: cur.value()?,
            }
        } else {
            Item {
                key: None,
                value: first,
            }
        };
        items.push(item);
    }
    Ok(Statement { keyword, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_semicolons_and_comments() {
        let src = Source::new(
            "t",
            "input 4 # four\ndense 8 leaky_relu(a=0.1) init=normal(0.02); dense 2\n\n",
        );
        let st = statements(&src).unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[1].keyword.text, "dense");
        let act = &st[1].items[1].value;
        assert_eq!(act.name.text, "leaky_relu");
        assert_eq!(act.args[0].key.unwrap().text, "a");
        assert_eq!(
            act.span,
            Span {
                line: 2,
                col: 9,
                len: 17
            }
        );
        let init = &st[1].items[2];
        assert_eq!(init.key.unwrap().text, "init");
        assert_eq!(init.value.args[0].value.text, "0.02");
        assert_eq!(
            st[2].keyword.span,
            Span {
                line: 2,
                col: 46,
                len: 5
            }
        );
    }

    #[test]
    fn a_comment_in_net_text_ends_at_the_semicolon() {
        let text = "input 64; dense 64 relu x3 # hidden; dense 10";
        let keywords = |src: &Source| -> Vec<String> {
            let st = statements(src).unwrap();
            st.iter().map(|s| s.keyword.text.to_owned()).collect()
        };
        assert_eq!(keywords(&Source::net(text)), ["input", "dense", "dense"]);
        // In a file a comment runs to the end of its line, `;` and all.
        assert_eq!(keywords(&Source::new("f.net", text)), ["input", "dense"]);
        // `;` and `#` inside a string are text.
        let src = Source::net(r#"data csv path="a;b#c.csv"; train seed=1"#);
        let st = statements(&src).unwrap();
        assert_eq!(st[0].items[1].value.name.text, "a;b#c.csv");
        assert_eq!(st[1].keyword.text, "train");
        assert_eq!(
            st[1].keyword.span,
            Span {
                line: 1,
                col: 28,
                len: 5
            }
        );
    }

    #[test]
    fn columns_count_characters_on_a_long_line() {
        // 300 000 tokens on one line: the old tokenizer counted the
        // characters before every token (quadratic: 3.9 s; the lexer keeps
        // a running column). Speed is not asserted here, only the columns.
        let text = format!("dense 8 {}", "σ ".repeat(300_000));
        let src = Source::new("t", text);
        let st = statements(&src).unwrap();
        let last = st[0].items.last().unwrap().value.name.span;
        assert_eq!(
            last,
            Span {
                line: 1,
                col: 9 + 2 * 299_999,
                len: 1
            }
        );
    }

    #[test]
    fn unbalanced_parentheses_are_positioned() {
        let src = Source::new("t", "dense 8 elu(a=1");
        let e = statements(&src).unwrap_err();
        assert_eq!(
            e.span,
            Some(Span {
                line: 1,
                col: 16,
                len: 1
            })
        );
        assert!(e.message.contains("expected `,` or `)`"), "{}", e.message);
    }
}
