//! LaTeX math, as people write it in markdown (`$E = \hbar\omega$`), turned
//! into typst math. It covers what physics notes use: fractions, roots,
//! scripts, Greek letters and operators, accents, fonts, `\left`/`\right`,
//! `cases` and matrix environments. An unknown command is kept as visible
//! text, so nothing is silently dropped and typst never sees a name it
//! cannot resolve.

/// Converts the LaTeX body of a math span (without the dollars).
pub fn latex_to_typst(latex: &str) -> String {
    let tokens = tokenize(latex);
    let mut p = Parser { tokens, pos: 0 };
    let out = p.sequence(&Stop::End, false);
    out.trim().to_string()
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Command(String),
    Open,
    Close,
    Sup,
    Sub,
    Align,
    Char(char),
    Space,
}

fn tokenize(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\\' => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_alphabetic() {
                    i += 1;
                }
                if i == start && i < chars.len() {
                    i += 1;
                }
                out.push(Token::Command(chars[start..i].iter().collect()));
            }
            '%' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            '^' => out.push(Token::Sup),
            '_' => out.push(Token::Sub),
            '&' => out.push(Token::Align),
            c if c.is_whitespace() => {
                if out.last() != Some(&Token::Space) {
                    out.push(Token::Space);
                }
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// Where a sequence ends.
enum Stop {
    End,
    Close,
    /// `\right`, `\end{env}`, or the closing `]` of an optional argument.
    Command(&'static str),
    Bracket,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn symbol(name: &str) -> Option<&'static str> {
    Some(match name {
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "epsilon" => "ϵ",
        "varepsilon" => "ε",
        "zeta" => "ζ",
        "eta" => "η",
        "theta" => "θ",
        "vartheta" => "ϑ",
        "iota" => "ι",
        "kappa" => "κ",
        "lambda" => "λ",
        "mu" => "μ",
        "nu" => "ν",
        "xi" => "ξ",
        "pi" => "π",
        "varpi" => "ϖ",
        "rho" => "ρ",
        "varrho" => "ϱ",
        "sigma" => "σ",
        "varsigma" => "ς",
        "tau" => "τ",
        "upsilon" => "υ",
        "phi" => "ϕ",
        "varphi" => "φ",
        "chi" => "χ",
        "psi" => "ψ",
        "omega" => "ω",
        "Gamma" => "Γ",
        "Delta" => "Δ",
        "Theta" => "Θ",
        "Lambda" => "Λ",
        "Xi" => "Ξ",
        "Pi" => "Π",
        "Sigma" => "Σ",
        "Upsilon" => "Υ",
        "Phi" => "Φ",
        "Psi" => "Ψ",
        "Omega" => "Ω",
        "hbar" | "hslash" => "ħ",
        "ell" => "ℓ",
        "partial" => "∂",
        "nabla" => "∇",
        "infty" => "∞",
        "cdot" => "⋅",
        "times" => "×",
        "div" => "÷",
        "pm" => "±",
        "mp" => "∓",
        "le" | "leq" => "≤",
        "ge" | "geq" => "≥",
        "ne" | "neq" => "≠",
        "ll" => "≪",
        "gg" => "≫",
        "approx" => "≈",
        "sim" => "∼",
        "simeq" => "≃",
        "equiv" => "≡",
        "propto" => "∝",
        "to" | "rightarrow" => "→",
        "leftarrow" | "gets" => "←",
        "Rightarrow" | "implies" => "⇒",
        "Leftarrow" => "⇐",
        "leftrightarrow" => "↔",
        "Leftrightarrow" | "iff" => "⇔",
        "mapsto" => "↦",
        "langle" => "⟨",
        "rangle" => "⟩",
        "lvert" | "rvert" | "vert" | "mid" => "|",
        "lVert" | "rVert" | "Vert" | "|" => "‖",
        "int" => "∫",
        "iint" => "∬",
        "iiint" => "∭",
        "oint" => "∮",
        "sum" => "∑",
        "prod" => "∏",
        "dagger" => "†",
        "ddagger" => "‡",
        "circ" => "∘",
        "bullet" => "∙",
        "star" => "⋆",
        "ast" => "∗",
        "otimes" => "⊗",
        "oplus" => "⊕",
        "degree" => "°",
        "prime" => "′",
        "in" => "∈",
        "notin" => "∉",
        "ni" => "∋",
        "subset" => "⊂",
        "subseteq" => "⊆",
        "supset" => "⊃",
        "cup" => "∪",
        "cap" => "∩",
        "emptyset" | "varnothing" => "∅",
        "forall" => "∀",
        "exists" => "∃",
        "neg" | "lnot" => "¬",
        "wedge" | "land" => "∧",
        "vee" | "lor" => "∨",
        "cdots" => "⋯",
        "ldots" | "dots" => "…",
        "vdots" => "⋮",
        "ddots" => "⋱",
        "perp" => "⊥",
        "parallel" => "∥",
        "angle" => "∠",
        "Re" => "ℜ",
        "Im" => "ℑ",
        "aleph" => "ℵ",
        "lbrace" | "{" => "\\{",
        "rbrace" | "}" => "\\}",
        "lfloor" => "⌊",
        "rfloor" => "⌋",
        "lceil" => "⌈",
        "rceil" => "⌉",
        "#" => "\\#",
        "$" => "\\$",
        "%" => "%",
        "_" => "\\_",
        "&" => "\\&",
        _ => return None,
    })
}

/// Operators typst's math library has under the same name.
const OPERATORS: [&str; 30] = [
    "sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh", "coth", "arcsin", "arccos", "arctan", "exp",
    "log", "ln", "lg", "det", "dim", "ker", "max", "min", "sup", "inf", "lim", "liminf", "limsup", "arg", "gcd", "deg",
];

/// Spacing commands and their typst names.
fn spacing(name: &str) -> Option<&'static str> {
    Some(match name {
        "," | "thinspace" => " thin ",
        ":" | ">" | ";" | "medspace" => " med ",
        "quad" => " quad ",
        "qquad" => " wide ",
        " " => " space ",
        "!" => " ",
        _ => return None,
    })
}

/// Accents and font commands with one argument: `\vec{x}` is `arrow(x)`.
fn one_argument(name: &str) -> Option<&'static str> {
    Some(match name {
        "sqrt" => "sqrt",
        "vec" => "arrow",
        "hat" | "widehat" => "hat",
        "bar" | "overline" => "overline",
        "underline" => "underline",
        "tilde" | "widetilde" => "tilde",
        "dot" => "dot",
        "ddot" => "dot.double",
        "mathbf" | "boldsymbol" | "bm" => "bold",
        "mathit" => "italic",
        "mathcal" => "cal",
        "mathbb" => "bb",
        "mathfrak" => "frak",
        "mathsf" => "sans",
        "mathtt" => "mono",
        "mathrm" => "upright",
        "abs" => "abs",
        "norm" => "norm",
        _ => return None,
    })
}

fn quote(text: &str) -> String {
    let mut s = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(&Token::Space) {
            self.pos += 1;
        }
    }

    /// Tokens up to `stop`, converted. Inside a function call's argument
    /// (`in_args`), commas and semicolons are escaped so they do not split it.
    fn sequence(&mut self, stop: &Stop, in_args: bool) -> String {
        let mut out = String::new();
        while let Some(t) = self.peek().cloned() {
            match (&t, stop) {
                (Token::Close, Stop::Close) => {
                    self.pos += 1;
                    return out;
                }
                (Token::Char(']'), Stop::Bracket) => {
                    self.pos += 1;
                    return out;
                }
                (Token::Command(c), Stop::Command(s)) if c == s => return out,
                _ => {}
            }
            if t == Token::Close {
                // An unbalanced `}`: show it rather than fail.
                self.pos += 1;
                out.push_str("\\}");
                continue;
            }
            out.push_str(&self.atom(in_args));
        }
        out
    }

    /// One argument: a `{group}` or a single token.
    fn argument(&mut self) -> String {
        self.skip_spaces();
        match self.peek() {
            Some(Token::Open) => {
                self.pos += 1;
                self.sequence(&Stop::Close, true)
            }
            Some(_) => self.atom(true),
            None => String::new(),
        }
    }

    /// The raw text of a `{group}` (for `\text{...}`).
    fn text_argument(&mut self) -> String {
        self.skip_spaces();
        if self.peek() != Some(&Token::Open) {
            return match self.next() {
                Some(Token::Char(c)) => c.to_string(),
                _ => String::new(),
            };
        }
        self.pos += 1;
        let mut depth = 0;
        let mut s = String::new();
        while let Some(t) = self.next() {
            match t {
                Token::Open => {
                    depth += 1;
                    s.push('{')
                }
                Token::Close if depth == 0 => break,
                Token::Close => {
                    depth -= 1;
                    s.push('}')
                }
                Token::Char(c) => s.push(c),
                Token::Space => s.push(' '),
                Token::Sup => s.push('^'),
                Token::Sub => s.push('_'),
                Token::Align => s.push('&'),
                Token::Command(c) => {
                    s.push_str(symbol(&c).map(|x| x.trim_start_matches('\\')).unwrap_or(&c));
                }
            }
        }
        s
    }

    fn script(&mut self, mark: char) -> String {
        let arg = self.argument();
        format!("{mark}({})", arg.trim())
    }

    fn atom(&mut self, in_args: bool) -> String {
        let Some(t) = self.next() else { return String::new() };
        match t {
            Token::Space => " ".into(),
            Token::Open => format!(" {} ", self.sequence(&Stop::Close, in_args)),
            Token::Close => "\\}".into(),
            Token::Sup => self.script('^'),
            Token::Sub => self.script('_'),
            Token::Align => "&".into(),
            Token::Char(c) => match c {
                c if c.is_alphabetic() => format!(" {c} "),
                c if c.is_ascii_digit() || c == '.' => c.to_string(),
                ',' | ';' if in_args => format!("\\{c}"),
                '/' | '"' | '#' | '@' | '$' | '*' | '\\' | '<' | '>' => format!("\\{c}"),
                '~' => " ".into(),
                '\'' => "'".into(),
                c => c.to_string(),
            },
            Token::Command(name) => self.command(&name),
        }
    }

    fn command(&mut self, name: &str) -> String {
        if let Some(s) = symbol(name) {
            return format!(" {s} ");
        }
        if let Some(s) = spacing(name) {
            return s.into();
        }
        if OPERATORS.contains(&name) {
            return format!(" {name} ");
        }
        match name {
            "frac" | "dfrac" | "tfrac" | "cfrac" => {
                let a = self.argument();
                let b = self.argument();
                format!(" frac({}, {}) ", a.trim(), b.trim())
            }
            "binom" => {
                let a = self.argument();
                let b = self.argument();
                format!(" binom({}, {}) ", a.trim(), b.trim())
            }
            "sqrt" => {
                self.skip_spaces();
                if self.peek() == Some(&Token::Char('[')) {
                    self.pos += 1;
                    let n = self.sequence(&Stop::Bracket, true);
                    let x = self.argument();
                    format!(" root({}, {}) ", n.trim(), x.trim())
                } else {
                    format!(" sqrt({}) ", self.argument().trim())
                }
            }
            "text" | "textrm" | "textit" | "textbf" | "mbox" => format!(" {} ", quote(&self.text_argument())),
            "operatorname" => format!(" op({}) ", quote(&self.text_argument())),
            "left" | "right" | "bigl" | "bigr" | "Bigl" | "Bigr" | "big" | "Big" | "bigg" | "Bigg" => {
                self.skip_spaces();
                match self.next() {
                    Some(Token::Char('.')) | None => String::new(),
                    Some(Token::Char(c)) => match c {
                        '/' | '<' | '>' => format!("\\{c}"),
                        c => c.to_string(),
                    },
                    Some(Token::Command(c)) => symbol(&c).map(|s| s.to_string()).unwrap_or_default(),
                    Some(_) => String::new(),
                }
            }
            "\\" | "newline" | "cr" => " \\ ".into(),
            "begin" => self.environment(),
            "end" => {
                self.text_argument();
                String::new()
            }
            "displaystyle" | "textstyle" | "limits" | "nolimits" | "nonumber" | "notag" => String::new(),
            _ => match one_argument(name) {
                Some("upright") => format!(" upright({}) ", quote(&self.text_argument())),
                Some(f) => format!(" {f}({}) ", self.argument().trim()),
                // Unknown: keep it visible as text.
                None => format!(" {} ", quote(&format!("\\{name}"))),
            },
        }
    }

    /// `\begin{env} ... \end{env}`.
    fn environment(&mut self) -> String {
        let env = self.text_argument();
        let body = self.sequence(&Stop::Command("end"), false);
        // Consume `\end{env}`.
        if matches!(self.peek(), Some(Token::Command(c)) if c == "end") {
            self.pos += 1;
            self.text_argument();
        }
        let delim = match env.trim_end_matches('*') {
            "pmatrix" => Some("\"(\""),
            "bmatrix" => Some("\"[\""),
            "Bmatrix" => Some("\"{\""),
            "vmatrix" => Some("\"|\""),
            "Vmatrix" => Some("\"||\""),
            "matrix" | "smallmatrix" => Some("#none"),
            _ => None,
        };
        let rows: Vec<Vec<String>> = body
            .split(" \\ ")
            .map(|r| r.split('&').map(|c| c.trim().to_string()).collect::<Vec<_>>())
            .filter(|r| r.iter().any(|c| !c.is_empty()))
            .collect();
        match (env.trim_end_matches('*'), delim) {
            (_, Some(d)) => {
                let rows: Vec<String> = rows.iter().map(|r| r.join(", ")).collect();
                format!(" mat(delim: {d}, {}) ", rows.join("; "))
            }
            ("cases", _) => {
                let cases: Vec<String> = rows.iter().map(|r| r.join(" & ")).collect();
                format!(" cases({}) ", cases.join(", "))
            }
            _ => format!(" {body} "),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The conversion with runs of spaces collapsed (spacing is free in
    /// typst math between atoms).
    fn t(latex: &str) -> String {
        super::latex_to_typst(latex).split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn letters_are_separate_symbols_and_scripts_are_grouped() {
        assert_eq!(t("ab"), "a b");
        // As in LaTeX, a script without braces takes one token.
        assert_eq!(t("x^10"), "x ^(1)0");
        assert_eq!(t("x^{10}"), "x ^(10)");
        assert_eq!(t("E_{n}"), "E _(n)");
    }

    #[test]
    fn fractions_roots_greek_and_operators() {
        assert_eq!(t(r"\frac{1}{2}"), "frac(1, 2)");
        assert_eq!(t(r"\sqrt[3]{x}"), "root(3, x)");
        assert_eq!(t(r"\hbar\omega"), "ħ ω");
        assert_eq!(t(r"\sin x"), "sin x");
        assert_eq!(t(r"\frac{f(a, b)}{2}"), "frac(f ( a \\, b ), 2)");
    }

    #[test]
    fn text_slashes_and_unknown_commands_stay_visible() {
        assert_eq!(t(r"\text{if } a/b"), "\"if \" a \\/ b");
        assert_eq!(t(r"\foo"), "\"\\\\foo\"");
    }

    #[test]
    fn matrices_and_cases() {
        assert_eq!(t(r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}"), "mat(delim: \"(\", 1, 0; 0, 1)");
        assert!(t(r"\begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}").starts_with("cases("));
    }
}
