//! Discord-style formatting of a message's text, parsed when drawn (the raw
//! text is what is stored and sent): `**bold**`, `*italic*` or `_italic_`,
//! `__underline__`, `~~strike~~`, `` `inline code` ``, fenced code blocks
//! (```` ``` ````, drawn in a monospace font), `> quotes`, and links
//! (`http(s)://…`, opened in the browser). A backslash keeps the next
//! character literal. Anything that does not close is plain text.

use egui::{Color32, RichText};

use super::tokens::{self, space};

/// How a run of text looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub strike: bool,
    pub code: bool,
}

/// A run of text in one style; `link` when it is a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub style: Style,
    pub link: bool,
}

/// A paragraph, a quote or a code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Lines of running text.
    Text(Vec<Span>),
    /// `> ` lines.
    Quote(Vec<Span>),
    /// A fenced block, verbatim.
    Code(String),
}

/// The blocks of `content`.
pub fn parse(content: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut text: Vec<&str> = Vec::new();
    let mut quote: Vec<&str> = Vec::new();
    let flush = |blocks: &mut Vec<Block>, text: &mut Vec<&str>, quote: &mut Vec<&str>| {
        if !text.is_empty() {
            blocks.push(Block::Text(inline(&text.join("\n"), Style::default())));
            text.clear();
        }
        if !quote.is_empty() {
            blocks.push(Block::Quote(inline(&quote.join("\n"), Style::default())));
            quote.clear();
        }
    };
    let mut lines = content.split('\n');
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("```") {
            // A block on one line: ```text```.
            if let Some(code) = rest.strip_suffix("```").filter(|c| !c.is_empty()) {
                flush(&mut blocks, &mut text, &mut quote);
                blocks.push(Block::Code(code.to_owned()));
                continue;
            }
            // Else up to the closing fence (the opening line names a language: dropped).
            let mut code = Vec::new();
            let mut closed = false;
            for inner in lines.by_ref() {
                if let Some(before) = inner.strip_suffix("```") {
                    if !before.is_empty() {
                        code.push(before);
                    }
                    closed = true;
                    break;
                }
                code.push(inner);
            }
            if closed {
                flush(&mut blocks, &mut text, &mut quote);
                blocks.push(Block::Code(code.join("\n")));
            } else {
                // Never closed: the whole rest is plain text.
                text.push(line);
                text.extend(code);
            }
            continue;
        }
        match line.strip_prefix("> ").or_else(|| (line == ">").then_some("")) {
            Some(quoted) => {
                if !text.is_empty() {
                    flush(&mut blocks, &mut text, &mut Vec::new());
                }
                quote.push(quoted);
            }
            None => {
                if !quote.is_empty() {
                    flush(&mut blocks, &mut Vec::new(), &mut quote);
                }
                text.push(line);
            }
        }
    }
    flush(&mut blocks, &mut text, &mut quote);
    blocks
}

/// The delimiters, longest first (so `**` is not read as two `*`).
const MARKS: [&str; 6] = ["**", "__", "~~", "`", "*", "_"];

/// `style` with what `mark` adds.
fn marked(mark: &str, mut style: Style) -> Style {
    match mark {
        "**" => style.bold = true,
        "__" => style.underline = true,
        "~~" => style.strike = true,
        "`" => style.code = true,
        _ => style.italic = true,
    }
    style
}

/// The spans of one block's text, every one starting from `style`.
fn inline(text: &str, style: Style) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(escaped) = rest[1..].chars().next().filter(|e| e.is_ascii_punctuation()) {
                plain.push(escaped);
                rest = &rest[1 + escaped.len_utf8()..];
                continue;
            }
        }
        if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            // A sentence's closing punctuation is not part of the link.
            let url = rest[..end].trim_end_matches(['.', ',', ')', '!', '?', ';', ':']);
            push(&mut spans, &mut plain, style);
            spans.push(Span { text: url.to_owned(), style, link: true });
            rest = &rest[url.len()..];
            continue;
        }
        for mark in MARKS {
            let Some(after) = rest.strip_prefix(mark) else { continue };
            // Opens only if it closes, around something that is not blank at its edges.
            let Some(close) = after.find(mark) else { continue };
            let inner = &after[..close];
            if inner.is_empty()
                || inner.starts_with(char::is_whitespace)
                || inner.ends_with(char::is_whitespace)
            {
                continue;
            }
            // `_` inside a word (snake_case) is not italics.
            if mark == "_" && plain.chars().last().is_some_and(char::is_alphanumeric) {
                continue;
            }
            push(&mut spans, &mut plain, style);
            let inner_style = marked(mark, style);
            if mark == "`" {
                spans.push(Span { text: inner.to_owned(), style: inner_style, link: false });
            } else {
                spans.extend(inline(inner, inner_style));
            }
            rest = &after[close + mark.len()..];
            continue 'scan;
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    push(&mut spans, &mut plain, style);
    spans
}

fn push(spans: &mut Vec<Span>, plain: &mut String, style: Style) {
    if !plain.is_empty() {
        spans.push(Span { text: std::mem::take(plain), style, link: false });
    }
}

/// `content` without its formatting marks, on one line (a reply's quote).
pub fn plain_line(content: &str) -> String {
    let text: Vec<String> = parse(content)
        .into_iter()
        .map(|block| match block {
            Block::Text(spans) | Block::Quote(spans) => spans.into_iter().map(|s| s.text).collect(),
            Block::Code(code) => code,
        })
        .collect();
    text.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `blocks` is one run of unformatted text (drawn as a plain label).
pub fn is_plain(blocks: &[Block]) -> bool {
    matches!(blocks, [Block::Text(spans)] if spans.len() == 1 && spans[0].style == Style::default() && !spans[0].link)
}

/// Draws `blocks`; `highlight` is the background of a message that names me.
pub fn show(ui: &mut egui::Ui, blocks: &[Block], highlight: Option<Color32>) {
    let palette = tokens::palette(ui);
    for block in blocks {
        match block {
            Block::Text(spans) => spans_ui(ui, spans, highlight),
            Block::Quote(spans) => {
                ui.horizontal(|ui| {
                    let (bar, _) =
                        ui.allocate_exact_size(egui::vec2(3.0, tokens::text::BODY), egui::Sense::hover());
                    ui.painter().rect_filled(bar, 1.0, palette.border);
                    ui.vertical(|ui| spans_ui(ui, spans, highlight));
                });
            }
            Block::Code(code) => {
                egui::Frame::new()
                    .fill(palette.surface)
                    .stroke(egui::Stroke::new(1.0, palette.border))
                    .corner_radius(tokens::radius::S)
                    .inner_margin(space::S)
                    .show(ui, |ui| {
                        ui.add(egui::Label::new(RichText::new(code).monospace()).wrap());
                    });
            }
        }
    }
}

fn spans_ui(ui: &mut egui::Ui, spans: &[Span], highlight: Option<Color32>) {
    let palette = tokens::palette(ui);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for span in spans {
            let mut text = RichText::new(&span.text);
            if span.style.bold {
                text = text.strong();
            }
            if span.style.italic {
                text = text.italics();
            }
            if span.style.underline {
                text = text.underline();
            }
            if span.style.strike {
                text = text.strikethrough();
            }
            if span.style.code {
                text = text.code();
            } else if let Some(background) = highlight {
                text = text.background_color(background);
            }
            if span.link {
                ui.hyperlink_to(text.color(palette.accent), &span.text);
            } else {
                ui.add(egui::Label::new(text).wrap());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styled(text: &str, f: fn(&mut Style)) -> Span {
        let mut style = Style::default();
        f(&mut style);
        Span { text: text.into(), style, link: false }
    }

    fn plain(text: &str) -> Span {
        Span { text: text.into(), style: Style::default(), link: false }
    }

    #[test]
    fn inline_marks_nest_and_only_closed_ones_count() {
        let bold = |s: &mut Style| s.bold = true;
        let bold_italic = |s: &mut Style| {
            s.bold = true;
            s.italic = true;
        };
        assert_eq!(
            inline("a **b _c_** `d *e*` ~~f~~", Style::default()),
            vec![
                plain("a "),
                styled("b ", bold),
                styled("c", bold_italic),
                plain(" "),
                styled("d *e*", |s| s.code = true),
                plain(" "),
                styled("f", |s| s.strike = true),
            ]
        );
        assert_eq!(inline("5 * 3 = 15 * 1", Style::default()), vec![plain("5 * 3 = 15 * 1")]);
        assert_eq!(inline("snake_case_name", Style::default()), vec![plain("snake_case_name")]);
        assert_eq!(inline(r"\*not italic\*", Style::default()), vec![plain("*not italic*")]);
        assert_eq!(inline("__u__", Style::default()), vec![styled("u", |s| s.underline = true)]);
    }

    #[test]
    fn links_stop_at_spaces_and_closing_punctuation() {
        let spans = inline("see https://example.com/a?b=1. ok", Style::default());
        assert_eq!(
            spans[1],
            Span { text: "https://example.com/a?b=1".into(), style: Style::default(), link: true }
        );
        assert_eq!(spans[2], plain(". ok"));
    }

    #[test]
    fn blocks_split_code_quotes_and_text() {
        let blocks =
            parse("hi\n```rust\nfn main() {}\n  let x = 1;\n```\n> quoted *here*\n> more\nafter\n```one```");
        assert_eq!(
            blocks,
            vec![
                Block::Text(vec![plain("hi")]),
                Block::Code("fn main() {}\n  let x = 1;".into()),
                Block::Quote(vec![plain("quoted "), styled("here", |s| s.italic = true), plain("\nmore")]),
                Block::Text(vec![plain("after")]),
                Block::Code("one".into()),
            ]
        );
        assert_eq!(
            parse("```never closed\nstill text"),
            vec![Block::Text(vec![plain("```never closed\nstill text")])]
        );
        assert!(is_plain(&parse("just words, 2*3")));
        assert_eq!(plain_line("**bold**, `code`\n```\nfn x()\n```"), "bold, code fn x()");
        assert!(!is_plain(&parse("**bold**")));
    }
}
