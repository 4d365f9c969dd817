//! A reader of GBNF (llama.cpp's grammar format), an Earley recognizer and
//! a random sentence generator: what the tests hold phx's grammars to. The
//! grammar is read from its text, as a server reads it.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

/// A set of characters: ranges, maybe negated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Class {
    pub negated: bool,
    pub ranges: Vec<(char, char)>,
}

impl Class {
    fn one(c: char) -> Class {
        Class { negated: false, ranges: vec![(c, c)] }
    }

    pub fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|(a, b)| *a <= c && c <= *b) != self.negated
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sym {
    N(usize),
    T(Class),
}

/// A context-free grammar over characters: productions by nonterminal.
pub struct Cfg {
    pub names: Vec<String>,
    pub prods: Vec<Vec<Vec<Sym>>>,
    pub root: usize,
    nullable: Vec<bool>,
    height: Vec<usize>,
}

// ------------------------------------------------------------------ reading

/// A sequence of elements, each with its repetition bounds.
type Seq = Vec<(Elem, usize, Option<usize>)>;

#[derive(Clone, Debug)]
enum Elem {
    Lit(String),
    Class(Class),
    Ref(String),
    Group(Vec<Seq>),
}

struct Reader<'a> {
    s: &'a [char],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r')) {
                self.i += 1;
            } else if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn name(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_') {
            out.push(c);
            self.i += 1;
        }
        assert!(!out.is_empty(), "a rule name expected at {}", self.i);
        out
    }

    fn escaped(&mut self) -> char {
        let c = self.s[self.i];
        self.i += 1;
        if c != '\\' {
            return c;
        }
        let e = self.s[self.i];
        self.i += 1;
        match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'x' => {
                let h: String = self.s[self.i..self.i + 2].iter().collect();
                self.i += 2;
                char::from_u32(u32::from_str_radix(&h, 16).expect("hex")).expect("char")
            }
            other => other,
        }
    }

    fn alternatives(&mut self, nested: bool) -> Vec<Seq> {
        let mut alts = vec![self.sequence(nested)];
        loop {
            self.space(nested);
            if self.peek() == Some('|') {
                self.i += 1;
                self.space(true);
                alts.push(self.sequence(nested));
            } else {
                return alts;
            }
        }
    }

    fn sequence(&mut self, nested: bool) -> Seq {
        let mut seq = Vec::new();
        loop {
            self.space(nested);
            let elem = match self.peek() {
                Some('"') => {
                    self.i += 1;
                    let mut s = String::new();
                    while self.peek() != Some('"') {
                        s.push(self.escaped());
                    }
                    self.i += 1;
                    Elem::Lit(s)
                }
                Some('[') => {
                    self.i += 1;
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.i += 1;
                    }
                    let mut ranges = Vec::new();
                    while self.peek() != Some(']') {
                        let a = self.escaped();
                        if self.peek() == Some('-') && self.s.get(self.i + 1) != Some(&']') {
                            self.i += 1;
                            let b = self.escaped();
                            ranges.push((a, b));
                        } else {
                            ranges.push((a, a));
                        }
                    }
                    self.i += 1;
                    Elem::Class(Class { negated, ranges })
                }
                Some('(') => {
                    self.i += 1;
                    self.space(true);
                    let g = self.alternatives(true);
                    self.space(true);
                    assert_eq!(self.peek(), Some(')'), "`)` expected at {}", self.i);
                    self.i += 1;
                    Elem::Group(g)
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                    // A name followed by `::=` starts the next rule.
                    let save = self.i;
                    self.name();
                    self.space(false);
                    if self.s[self.i..].starts_with(&[':', ':', '=']) {
                        self.i = save;
                        return seq;
                    }
                    self.i = save;
                    Elem::Ref(self.name())
                }
                _ => return seq,
            };
            let (mut lo, mut hi) = (1, Some(1));
            match self.peek() {
                Some('*') => {
                    self.i += 1;
                    (lo, hi) = (0, None);
                }
                Some('+') => {
                    self.i += 1;
                    (lo, hi) = (1, None);
                }
                Some('?') => {
                    self.i += 1;
                    (lo, hi) = (0, Some(1));
                }
                Some('{') => {
                    self.i += 1;
                    let num = |r: &mut Self| {
                        let mut n = String::new();
                        while r.peek().is_some_and(|c| c.is_ascii_digit()) {
                            n.push(r.s[r.i]);
                            r.i += 1;
                        }
                        n.parse::<usize>().ok()
                    };
                    lo = num(self).expect("a count");
                    if self.peek() == Some(',') {
                        self.i += 1;
                        hi = num(self);
                    } else {
                        hi = Some(lo);
                    }
                    assert_eq!(self.peek(), Some('}'));
                    self.i += 1;
                }
                _ => {}
            }
            seq.push((elem, lo, hi));
        }
    }
}

/// Reads a GBNF grammar; panics on malformed text (a test failure).
pub fn read(text: &str) -> Cfg {
    let chars: Vec<char> = text.chars().collect();
    let mut r = Reader { s: &chars, i: 0 };
    let mut rules: Vec<(String, Vec<Seq>)> = Vec::new();
    loop {
        r.space(true);
        if r.peek().is_none() {
            break;
        }
        let name = r.name();
        r.space(false);
        assert!(chars[r.i..].starts_with(&[':', ':', '=']), "`::=` expected after {name}");
        r.i += 3;
        r.space(false);
        let alts = r.alternatives(false);
        rules.push((name, alts));
    }
    let mut b = Builder { names: Vec::new(), prods: Vec::new(), index: HashMap::new() };
    for (name, _) in &rules {
        b.nt(name);
    }
    for (name, alts) in &rules {
        let id = b.index[name];
        let prods: Vec<Vec<Sym>> = alts.iter().map(|seq| b.seq(seq)).collect();
        b.prods[id] = prods;
    }
    for (i, p) in b.prods.iter().enumerate() {
        assert!(!p.is_empty(), "rule `{}` is used but never defined", b.names[i]);
    }
    let root = *b.index.get("root").expect("a `root` rule");
    Cfg::new(b.names, b.prods, root)
}

struct Builder {
    names: Vec<String>,
    prods: Vec<Vec<Vec<Sym>>>,
    index: HashMap<String, usize>,
}

impl Builder {
    fn nt(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        self.names.push(name.to_string());
        self.prods.push(Vec::new());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    fn fresh(&mut self, prods: Vec<Vec<Sym>>) -> usize {
        let n = format!("_{}", self.names.len());
        let id = self.nt(&n);
        self.prods[id] = prods;
        id
    }

    fn seq(&mut self, seq: &[(Elem, usize, Option<usize>)]) -> Vec<Sym> {
        let mut out = Vec::new();
        for (e, lo, hi) in seq {
            let one = self.elem(e);
            for _ in 0..*lo {
                out.extend(one.iter().cloned());
            }
            match hi {
                None => {
                    // R ::= "" | one R
                    let id = self.fresh(Vec::new());
                    let mut more = one.clone();
                    more.push(Sym::N(id));
                    self.prods[id] = vec![Vec::new(), more];
                    out.push(Sym::N(id));
                }
                Some(h) if *h > *lo => {
                    // R_k ::= "" | one R_{k-1}
                    let mut prev = self.fresh(vec![Vec::new(), one.clone()]);
                    for _ in 1..(h - lo) {
                        let mut more = one.clone();
                        more.push(Sym::N(prev));
                        prev = self.fresh(vec![Vec::new(), more]);
                    }
                    out.push(Sym::N(prev));
                }
                _ => {}
            }
        }
        out
    }

    fn elem(&mut self, e: &Elem) -> Vec<Sym> {
        match e {
            Elem::Lit(s) => s.chars().map(|c| Sym::T(Class::one(c))).collect(),
            Elem::Class(c) => vec![Sym::T(c.clone())],
            Elem::Ref(n) => vec![Sym::N(self.nt(n))],
            Elem::Group(alts) => {
                let prods: Vec<Vec<Sym>> = alts.iter().map(|s| self.seq(s)).collect();
                vec![Sym::N(self.fresh(prods))]
            }
        }
    }
}

impl Cfg {
    fn new(names: Vec<String>, prods: Vec<Vec<Vec<Sym>>>, root: usize) -> Cfg {
        let n = names.len();
        let mut nullable = vec![false; n];
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if !nullable[i] && prods[i].iter().any(|p| p.iter().all(|s| matches!(s, Sym::N(j) if nullable[*j]))) {
                    nullable[i] = true;
                    changed = true;
                }
            }
        }
        // The least height of a derivation of each nonterminal.
        let mut height = vec![usize::MAX; n];
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                for p in &prods[i] {
                    let h = p
                        .iter()
                        .map(|s| match s {
                            Sym::T(_) => 0,
                            Sym::N(j) => height[*j],
                        })
                        .max()
                        .unwrap_or(0);
                    if h != usize::MAX && h + 1 < height[i] {
                        height[i] = h + 1;
                        changed = true;
                    }
                }
            }
        }
        for (i, h) in height.iter().enumerate() {
            assert!(*h != usize::MAX, "rule `{}` derives no sentence", names[i]);
        }
        Cfg { names, prods, root, nullable, height }
    }

    /// Whether `text` is a sentence of the grammar (Earley). On failure,
    /// the offset of the first character no item could read.
    pub fn recognize(&self, text: &str) -> Result<(), usize> {
        let input: Vec<char> = text.chars().collect();
        type Item = (usize, usize, usize, usize); // (nt, prod, dot, origin)
        let mut charts: Vec<Vec<Item>> = vec![Vec::new(); input.len() + 1];
        let mut seen: Vec<HashSet<Item>> = vec![HashSet::new(); input.len() + 1];
        // Items of each chart waiting for a nonterminal.
        let mut waiting: Vec<HashMap<usize, Vec<Item>>> = vec![HashMap::new(); input.len() + 1];
        let add = |charts: &mut Vec<Vec<Item>>, seen: &mut Vec<HashSet<Item>>, at: usize, it: Item| {
            if seen[at].insert(it) {
                charts[at].push(it);
            }
        };
        for p in 0..self.prods[self.root].len() {
            add(&mut charts, &mut seen, 0, (self.root, p, 0, 0));
        }
        for i in 0..=input.len() {
            let mut k = 0;
            while k < charts[i].len() {
                let (nt, p, dot, origin) = charts[i][k];
                k += 1;
                let rhs = &self.prods[nt][p];
                if dot < rhs.len() {
                    match &rhs[dot] {
                        Sym::N(b) => {
                            waiting[i].entry(*b).or_default().push((nt, p, dot, origin));
                            for q in 0..self.prods[*b].len() {
                                add(&mut charts, &mut seen, i, (*b, q, 0, i));
                            }
                            if self.nullable[*b] {
                                add(&mut charts, &mut seen, i, (nt, p, dot + 1, origin));
                            }
                        }
                        Sym::T(c) => {
                            if i < input.len() && c.contains(input[i]) {
                                add(&mut charts, &mut seen, i + 1, (nt, p, dot + 1, origin));
                            }
                        }
                    }
                } else {
                    let parents = waiting[origin].get(&nt).cloned().unwrap_or_default();
                    for (pn, pp, pd, po) in parents {
                        add(&mut charts, &mut seen, i, (pn, pp, pd + 1, po));
                    }
                }
            }
            if i < input.len() && charts[i + 1].is_empty() {
                return Err(i);
            }
        }
        let done = charts[input.len()]
            .iter()
            .any(|(nt, p, dot, origin)| *nt == self.root && *origin == 0 && *dot == self.prods[*nt][*p].len());
        if done { Ok(()) } else { Err(input.len()) }
    }

    /// A random sentence; past `depth`, each nonterminal takes its
    /// shortest derivation, so every sentence is finite.
    pub fn generate(&self, rng: &mut Rng, depth: usize) -> String {
        let mut out = String::new();
        self.gen_nt(self.root, rng, 0, depth, &mut out);
        out
    }

    fn gen_nt(&self, nt: usize, rng: &mut Rng, d: usize, limit: usize, out: &mut String) {
        let prods = &self.prods[nt];
        let height = |p: &Vec<Sym>| {
            p.iter()
                .map(|s| match s {
                    Sym::T(_) => 0,
                    Sym::N(j) => self.height[*j],
                })
                .max()
                .unwrap_or(0)
        };
        let choice = if d >= limit {
            let best = prods.iter().map(height).min().unwrap_or(0);
            let shortest: Vec<usize> = (0..prods.len()).filter(|i| height(&prods[*i]) == best).collect();
            shortest[rng.below(shortest.len())]
        } else {
            rng.below(prods.len())
        };
        for s in &prods[choice] {
            match s {
                Sym::N(j) => self.gen_nt(*j, rng, d + 1, limit, out),
                Sym::T(c) => out.push(pick(c, rng)),
            }
        }
    }
}

fn pick(c: &Class, rng: &mut Rng) -> char {
    if !c.negated {
        let (a, b) = c.ranges[rng.below(c.ranges.len())];
        let span = (b as u32 - a as u32 + 1) as usize;
        return char::from_u32(a as u32 + rng.below(span) as u32).unwrap_or(a);
    }
    // Printable ASCII, a newline now and then, and a non-ASCII letter.
    let pool: Vec<char> = (' '..='~').chain(['\n', 'é', 'λ']).filter(|x| c.contains(*x)).collect();
    pool[rng.below(pool.len())]
}

/// A small deterministic generator (xorshift), so a failure reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
