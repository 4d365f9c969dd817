//! The page of every diagnostic code: what it means, a failing example,
//! the fix and why. The pages are the book's (`docs/src/diagnostics/`),
//! embedded here so that `phx explain-code`, the language server and the
//! MCP server print exactly what the book shows.

/// One code's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// The code as printed: `phx::unit-mismatch`.
    pub code: &'static str,
    /// The page as Markdown, as the book has it.
    pub markdown: &'static str,
}

macro_rules! pages {
    ($($name:literal),* $(,)?) => {
        /// Every code's page: the codes of the language spec first, in the
        /// order of [`crate::Code::ALL`], then the codes of the commands.
        pub static PAGES: &[Page] = &[
            $(Page {
                code: concat!("phx::", $name),
                markdown: include_str!(concat!("../../../docs/src/diagnostics/", $name, ".md")),
            }),*
        ];
    };
}

pages!(
    // The language (spec section 6), as `Code::ALL` orders them.
    "syntax",
    "unknown-name",
    "duplicate-name",
    "unknown-tool",
    "unknown-arg",
    "missing-arg",
    "type-mismatch",
    "unit-mismatch",
    "constraint",
    "cap-exceeded",
    "missing-emit",
    "unsupported-emit",
    "unsupported-device",
    "unknown-output",
    "cycle",
    "not-visual",
    "import",
    "allow-large",
    "unused",
    "device-fallback",
    "raw-placeholder",
    // The commands: runs, the store, reports, the notebook, sharing,
    // clusters, agents.
    "usage",
    "invalid-program",
    "no-run",
    "no-artifact",
    "no-dag",
    "no-share",
    "missing-object",
    "results",
    "store",
    "store-busy",
    "io",
    "runtime",
    "internal",
    "cancelled",
    "backend",
    "backend-unreachable",
    "not-granted",
    "mcp-client",
    "model",
    "model-timeout",
    "model-context",
    "model-answer",
    "no-model",
    "report-missing",
    "report-bibliography",
    "report-citation",
    "report-table",
    "report-typeset",
    "notebook-key",
    "notebook-entry",
    "notebook-attach",
    "notebook-tampered",
    "bundle-signature",
    "bundle-corrupt",
    "bundle-run",
    "bundle-io",
    "share",
);

/// The page of `code`, written `phx::unit-mismatch` or `unit-mismatch`.
pub fn page(code: &str) -> Option<&'static Page> {
    let code = code.trim();
    let bare = code.strip_prefix("phx::").unwrap_or(code);
    PAGES.iter().find(|p| p.code.strip_prefix("phx::") == Some(bare))
}

/// The codes nearest to a code that has no page, closest first (at most
/// `n`), for a hint.
pub fn nearest(code: &str, n: usize) -> Vec<&'static str> {
    let bare = code.trim().strip_prefix("phx::").unwrap_or(code.trim());
    let mut scored: Vec<(usize, &'static str)> = PAGES
        .iter()
        .map(|p| {
            let name = p.code.strip_prefix("phx::").unwrap_or(p.code);
            // A code that contains what was typed is as near as one typo.
            let d = if !bare.is_empty() && name.contains(bare) { 1 } else { phx_units::levenshtein(bare, name) };
            (d, p.code)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// A page as the terminal shows it: the book's Markdown with the test
/// annotations of its code fences (`phx,fails=CODE`, `file=...`) left out.
pub fn terminal_text(page: &Page) -> String {
    let mut out = String::with_capacity(page.markdown.len());
    for line in page.markdown.lines() {
        match line.strip_prefix("```") {
            Some(info) if !info.is_empty() => {
                let lang = info.split(',').next().unwrap_or("");
                out.push_str("```");
                out.push_str(lang);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_code_has_a_page_in_order() {
        for (code, page) in crate::Code::ALL.iter().zip(PAGES) {
            assert_eq!(code.as_str(), page.code);
        }
    }

    #[test]
    fn pages_are_found_with_or_without_the_prefix() {
        assert_eq!(page("phx::unit-mismatch").map(|p| p.code), Some("phx::unit-mismatch"));
        assert_eq!(page("unit-mismatch").map(|p| p.code), Some("phx::unit-mismatch"));
        assert!(page("phx::nothing-like-it").is_none());
        assert_eq!(nearest("unit-mismatc", 1), vec!["phx::unit-mismatch"]);
        assert!(nearest("bundle", 4).iter().all(|c| c.starts_with("phx::bundle")));
    }

    #[test]
    fn the_terminal_text_drops_test_annotations() {
        let p = Page { code: "phx::x", markdown: "# x\n```phx,fails=phx::x\nnode\n```\n" };
        assert_eq!(terminal_text(&p), "# x\n```phx\nnode\n```\n");
    }
}
