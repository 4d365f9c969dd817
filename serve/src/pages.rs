//! The HTML of the viewer: server-rendered pages, every piece of stored
//! text escaped, a few lines of script for live updates.

use phx_store::{CommentRow, ExecutionRow, OutputRow, RunRow};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d3e6;font-size:13px}main{padding:18px 28px;max-width:1200px}
section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:14px 18px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff4;vertical-align:top}
th{color:#5b6577;font-weight:600}code{font-size:12px}.s-succeeded{color:#16794a}.s-failed{color:#b3261e}
.s-running{color:#a06800}.s-cancelled,.s-skipped{color:#6b7280}#dag-svg svg{max-width:100%;height:auto}
figure{display:inline-block;margin:0 14px 14px 0;vertical-align:top;max-width:420px}
figure img,figure video{max-width:420px;border:1px solid #dde2ea;border-radius:4px;background:#fff}
figcaption{font-size:12px;color:#5b6577}.csv td{font-family:ui-monospace,monospace;font-size:12px}
form textarea,form input{width:100%;box-sizing:border-box;margin:4px 0;font:inherit}
.note{color:#5b6577;font-size:13px}.err{white-space:pre-wrap;color:#b3261e;font-size:12px}
"#;

/// A whole page.
pub fn page(title: &str, subtitle: &str, body: &str, script: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
<meta name=referrer content=no-referrer><title>{t} · phx</title><style>{STYLE}</style></head>\
<body><header><h1>{t}</h1><p>{s}</p></header><main>{body}</main>{script}</body></html>",
        t = esc(title),
        s = subtitle
    )
}

/// The page saying a request was refused (no data, ever).
pub fn refused(message: &str) -> String {
    page("Not available", "phx serve", &format!("<section><p>{}</p></section>", esc(message)), "")
}

/// An artifact as the run page shows it.
pub struct Shown<'a> {
    pub exec: &'a ExecutionRow,
    pub outputs: Vec<OutputRow>,
    /// The first lines of each Series, by hash.
    pub previews: Vec<(String, Vec<Vec<String>>)>,
}

fn status_cell(status: &str, cached: bool) -> String {
    let s = if cached { "cached" } else { status };
    format!("<td class=\"s-{}\" data-status>{}</td>", esc(status), esc(s))
}

/// How many instances of a sweep the run page lists one by one; a larger
/// sweep is one row (its states, cache hits, median time, first failures)
/// and the artifacts of its first instances, as in `phx show`.
pub use phx_app::history::SHOWN_INSTANCES;

/// The run page: header facts, the DAG, nodes with provenance, artifacts,
/// report, notebook entries, comments (and forms with write access).
/// `families`: the sweeps summarised (by node name); `shown` holds only
/// their first instances.
#[allow(clippy::too_many_arguments)]
pub fn run_page(
    base: &str,
    token_base: &str,
    run: &RunRow,
    shown: &[Shown<'_>],
    families: &std::collections::HashMap<String, phx_app::history::FamilySummary>,
    dag_svg: Option<&str>,
    has_report: bool,
    notebook: &[phx_notebook::Body],
    comments: &[CommentRow],
    write: bool,
    participants: &[String],
) -> String {
    let mut b = String::new();
    b.push_str(&format!(
        "<section id=dag><h2>DAG</h2><div id=dag-svg>{}</div><p class=note>Colours follow each node's state; they update live while the run goes on.</p></section>",
        dag_svg.unwrap_or("<p class=note>The program of this run was not kept, so its DAG cannot be drawn.</p>")
    ));
    b.push_str("<section id=nodes><h2>Nodes and provenance</h2><table><tr><th>node</th><th>tool</th><th>status</th><th>device</th><th>backend</th><th>time</th><th>why there</th></tr>");
    let mut summarised = std::collections::HashSet::new();
    for s in shown {
        let e = s.exec;
        let family = phx_app::history::family_of(&e.vertex);
        if let Some(summary) = families.get(family) {
            if summarised.insert(family) {
                b.push_str(&format!(
                    "<tr id=\"family-{id}\"><td><code>{id}[…]</code></td><td>{tool} <span class=note>{ver}</span></td><td colspan=5>{line}</td></tr>",
                    id = esc(family),
                    tool = esc(&e.tool),
                    ver = esc(&e.tool_version),
                    line = esc(&summary.line()),
                ));
                for (id, status, err) in &summary.failures {
                    b.push_str(&format!(
                        "<tr><td></td><td colspan=6 class=err><code>{}</code> {}: {}</td></tr>",
                        esc(id),
                        esc(status),
                        esc(err)
                    ));
                }
                if summary.more_failures > 0 {
                    b.push_str(&format!(
                        "<tr><td></td><td colspan=6 class=note>and {} more failed instances</td></tr>",
                        summary.more_failures
                    ));
                }
            }
            continue;
        }
        b.push_str(&format!(
            "<tr id=\"node-{id}\" data-vertex=\"{id}\"><td><code>{id}</code></td><td>{tool} <span class=note>{ver}</span></td>{status}<td>{dev}{fb}</td><td>{backend}{job}</td><td>{ms}</td><td class=note>{place}</td></tr>",
            id = esc(&e.vertex),
            tool = esc(&e.tool),
            ver = esc(&e.tool_version),
            status = status_cell(&e.status, e.cached),
            dev = esc(e.device.as_deref().unwrap_or("-")),
            fb = e.fallback.as_deref().map(|f| format!(" <span class=note>(fallback: {})</span>", esc(f))).unwrap_or_default(),
            backend = esc(&e.backend),
            job = e.job_id.as_deref().map(|j| format!(" job {}", esc(j))).unwrap_or_default(),
            ms = e.duration_ms.map(|m| format!("{m} ms")).unwrap_or_else(|| "-".into()),
            place = esc(e.placement.as_deref().unwrap_or("")),
        ));
        if let Some(err) = &e.error {
            b.push_str(&format!("<tr><td></td><td colspan=6 class=err>{}</td></tr>", esc(err)));
        }
    }
    b.push_str("</table></section><section id=artifacts><h2>Artifacts</h2>");
    for summary in families.values() {
        b.push_str(&format!(
            "<p class=note>Of the {} instances of <code>{}</code>, the first {SHOWN_INSTANCES} are shown; <code>phx results</code> places them all.</p>",
            phx_app::run::thousands(summary.instances),
            esc(&summary.node)
        ));
    }
    let mut any = false;
    for s in shown {
        for o in &s.outputs {
            // A picture's SVG twin is a link under the picture, not a figure.
            let svg_twin = s.outputs.iter().find(|x| x.name == format!("{}_svg", o.name));
            if o.kind == "Svg"
                || (o.name.ends_with("_svg") && s.outputs.iter().any(|x| format!("{}_svg", x.name) == o.name))
            {
                continue;
            }
            any = true;
            let href = format!("{token_base}/a/{}", esc(&o.sha256));
            let caption = format!(
                "<figcaption><code>{}.{}</code> · {} · <a href=\"{href}?download=1\">download</a>{} · <code>{}</code></figcaption>",
                esc(&s.exec.vertex),
                esc(&o.name),
                esc(&o.kind),
                svg_twin
                    .map(|t| format!(" · <a href=\"{token_base}/a/{}?download=1\">SVG</a>", esc(&t.sha256)))
                    .unwrap_or_default(),
                esc(&o.sha256.chars().take(12).collect::<String>())
            );
            let meta: serde_json::Value = serde_json::from_str(&o.meta_json).unwrap_or_default();
            match o.kind.as_str() {
                "Image" => b.push_str(&format!(
                    "<figure><img src=\"{href}\" alt=\"{} of {}\" loading=lazy>{caption}</figure>",
                    esc(&o.name),
                    esc(&s.exec.vertex)
                )),
                "Animation" if meta.get("format").and_then(|f| f.as_str()) == Some("gif") => b.push_str(&format!(
                    "<figure><img src=\"{href}\" alt=\"animation {}\">{caption}</figure>",
                    esc(&o.name)
                )),
                "Animation" => b.push_str(&format!(
                    "<figure><video src=\"{href}\" controls muted loop preload=metadata></video>{caption}</figure>"
                )),
                "Series" => {
                    let rows =
                        s.previews.iter().find(|(h, _)| *h == o.sha256).map(|(_, r)| r.as_slice()).unwrap_or(&[]);
                    let mut t = String::from("<table class=csv>");
                    for (i, row) in rows.iter().enumerate() {
                        let cell = if i == 0 { "th" } else { "td" };
                        t.push_str("<tr>");
                        for c in row {
                            t.push_str(&format!("<{cell}>{}</{cell}>", esc(c)));
                        }
                        t.push_str("</tr>");
                    }
                    t.push_str("</table>");
                    b.push_str(&format!("<figure class=series>{t}{caption}</figure>"));
                }
                _ => b.push_str(&format!("<figure>{caption}</figure>")),
            }
        }
    }
    if !any {
        b.push_str("<p class=note>No artifacts yet.</p>");
    }
    b.push_str("</section>");
    if has_report {
        b.push_str(&format!(
            "<section id=report><h2>Report</h2><p><a href=\"{base}/report.pdf\">report.pdf</a> (typeset by phx from the run's report block)</p></section>"
        ));
    }
    b.push_str("<section id=notebook><h2>Lab notebook</h2>");
    if notebook.is_empty() {
        b.push_str("<p class=note>No notebook entry refers to this run.</p>");
    }
    for e in notebook {
        b.push_str(&format!(
            "<article><h3>#{} {}</h3><p class=note>{} · {}</p><pre>{}</pre></article>",
            e.seq,
            esc(&e.title),
            esc(&e.author),
            esc(&e.time),
            esc(&e.markdown)
        ));
    }
    b.push_str("</section><section id=comments><h2>Comments</h2>");
    for c in comments {
        b.push_str(&format!(
            "<article class=comment><p><b>{}</b> <span class=note>{}</span></p><p>{}</p></article>",
            esc(&c.author),
            esc(&c.created_at),
            esc(&c.body)
        ));
    }
    if write {
        let who = participants.first().map(|p| esc(p)).unwrap_or_default();
        b.push_str(&format!(
            "<form method=post action=\"{base}/comments\"><input name=author placeholder=\"your name\" value=\"{who}\" maxlength=100>\
<textarea name=body rows=3 maxlength=8000 placeholder=\"a comment\" required></textarea><button>Comment</button></form>\
<h2>Add a notebook entry</h2><form method=post action=\"{base}/notebook\"><input name=title placeholder=title maxlength=200 required>\
<textarea name=markdown rows=4 maxlength=8000 placeholder=\"what you saw (markdown)\" required></textarea><button>Add and sign</button></form>"
        ));
    } else if comments.is_empty() {
        b.push_str("<p class=note>No comments. This link is read-only.</p>");
    }
    b.push_str("</section>");
    let subtitle = format!(
        "{} · <span class=\"s-{st}\" id=run-status>{st}</span> · started {} · host {} · phx {}{}",
        esc(&run.file),
        esc(&run.started_at),
        esc(&run.host),
        esc(&run.phx_version),
        run.git_commit
            .as_deref()
            .map(|c| format!(
                " · git {}{}",
                esc(&c.chars().take(12).collect::<String>()),
                if run.git_dirty == Some(true) { " (dirty)" } else { "" }
            ))
            .unwrap_or_default(),
        st = esc(&run.status),
    );
    // Live: the DAG and the node states follow the run over server-sent
    // events; when it ends the page reloads once to show the artifacts.
    let script = if run.status == "running" {
        format!(
            "<script>const es=new EventSource('{base}/events');\
es.addEventListener('state',async e=>{{const s=JSON.parse(e.data);for(const[v,st]of Object.entries(s)){{const r=document.querySelector('tr[data-vertex=\"'+CSS.escape(v)+'\"] [data-status]');if(r){{r.textContent=st;r.className='s-'+st;}}}}\
const t=await fetch('{base}/dag.svg');if(t.ok)document.getElementById('dag-svg').innerHTML=await t.text();}});\
es.addEventListener('done',()=>{{es.close();location.reload();}});</script>"
        )
    } else {
        String::new()
    };
    page(&format!("Run {}", run.id), &subtitle, &b, &script)
}

/// A session: every run of one program, newest first.
pub fn session_page(token_base: &str, file: &str, runs: &[phx_app::history::RunListing]) -> String {
    let mut b =
        String::from("<section><h2>Runs</h2><table><tr><th>run</th><th>status</th><th>started</th><th>host</th></tr>");
    for r in runs {
        b.push_str(&format!(
            "<tr><td><a href=\"{token_base}/run/{id}\">{id}</a></td><td class=\"s-{st}\">{st}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.started_at),
            esc(&r.host),
            id = esc(&r.run_id),
            st = esc(r.status.as_str())
        ));
    }
    b.push_str("</table></section>");
    page(&format!("Session {file}"), "every run of this program, newest first", &b, "")
}

/// A shared bundle: what it is and a download.
pub fn bundle_page(token_base: &str, name: &str, size: u64, sha256: &str) -> String {
    let b = format!(
        "<section><h2>Bundle</h2><p><code>{}</code>, {size} bytes, SHA-256 <code>{}</code></p>\
<p><a href=\"{token_base}/bundle\">download</a>; <code>phx bundle import FILE</code> verifies its signature and every hash before it adds anything.</p></section>",
        esc(name),
        esc(sha256)
    );
    page(&format!("Bundle {name}"), "a signed experiment bundle", &b, "")
}
