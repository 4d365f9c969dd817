//! `phx share create|list|revoke` (links) and `phx serve` (the viewer).

use std::sync::Arc;

use phx_app::share::{Access, LinkRequest, ShareTarget};
use serde_json::json;

use super::common::{self, DirArg, FormatArg, TextOrJson};
use super::exit;

/// The address `phx serve` binds by default: this machine only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8470";

#[derive(clap::Subcommand)]
pub enum ShareCommand {
    /// A new link to a run, a session (every run of a program) or a bundle.
    Create {
        /// A run id (`phx runs`).
        #[arg(long, group = "what")]
        run: Option<String>,
        /// A bundle file (`phx bundle export`).
        #[arg(long, group = "what")]
        bundle: Option<String>,
        /// A program as `phx runs` names it: every run of it, also later ones.
        #[arg(long, group = "what")]
        session: Option<String>,
        /// `read` (view and download) or `write` (also comments and notebook entries).
        #[arg(long, value_enum, default_value_t)]
        access: Access,
        /// How long the link works: 30m, 72h, 7d.
        #[arg(long, default_value = "72h")]
        expires: String,
        /// Who it is for (repeatable); shown as the author of what they add.
        #[arg(long = "to")]
        to: Vec<String>,
        /// Where `phx serve` is reached, for the printed link.
        #[arg(long, default_value = phx_app::share::DEFAULT_BASE_URL)]
        base_url: String,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Every link: what it grants, to whom, until when, revoked or not.
    List {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Revokes a link by its id (from `list`); it stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        dir: DirArg,
    },
}

/// `phx share ...`.
pub fn run(c: ShareCommand) -> u8 {
    match c {
        ShareCommand::Create { run, bundle, session, access, expires, to, base_url, dir, format } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let target = match (run, bundle, session) {
                (Some(r), _, _) => ShareTarget::Run(r),
                (_, Some(b), _) => ShareTarget::Bundle(b),
                (_, _, Some(s)) => ShareTarget::Session(s),
                _ => {
                    eprintln!("error: say what to share\n  help: --run RUN, --session PROGRAM or --bundle FILE");
                    return exit::USAGE;
                }
            };
            let link = match phx_app::share::create_link(&exp, &LinkRequest { target, access, expires, to, base_url }) {
                Ok(l) => l,
                Err(e) => return common::fail(&e),
            };
            match format.format {
                TextOrJson::Json => common::print_value(&link),
                TextOrJson::Text => common::out(&format!(
                    "{}\n{} access to {} {} until {} (unix {}); revoke with `phx share revoke {}`\n",
                    link.url,
                    link.access,
                    link.kind,
                    link.resource,
                    phx_app::clock::rfc3339_of_unix(link.expires_at),
                    link.expires_at,
                    link.id
                )),
            }
            exit::OK
        }
        ShareCommand::List { dir, format } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let rows = match phx_app::share::list_links(&exp) {
                Ok(r) => r,
                Err(e) => return common::fail(&e),
            };
            match format.format {
                TextOrJson::Json => common::print_json(&json!({"shares": rows})),
                TextOrJson::Text => {
                    let mut t = String::new();
                    for r in &rows {
                        t.push_str(&format!(
                            "{}  {:<7} {:<5} {} {}  until {}{}\n",
                            r.id,
                            r.state,
                            r.access,
                            r.kind,
                            r.resource,
                            phx_app::clock::rfc3339_of_unix(r.expires_at),
                            if r.to.is_empty() { String::new() } else { format!("  to {}", r.to.join(", ")) }
                        ));
                    }
                    if rows.is_empty() {
                        t.push_str("no share links yet: `phx share create --run RUN`\n");
                    }
                    common::out(&t);
                }
            }
            exit::OK
        }
        ShareCommand::Revoke { id, dir } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            match phx_app::share::revoke_link(&exp, &id) {
                Ok(()) => {
                    common::out(&format!("revoked {id}\n"));
                    exit::OK
                }
                Err(e) => common::fail(&e),
            }
        }
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where to listen; 127.0.0.1 keeps it to this machine.
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: String,
    /// The experiment folder whose store is served.
    #[command(flatten)]
    dir: DirArg,
    /// The key that signs notebook entries added through write links
    /// (default: your notebook key).
    #[arg(long)]
    key: Option<String>,
    /// Connections open at once (default 512, fewer under a low open-files
    /// limit); past it, a client that has not sent a whole request gives
    /// its place up first.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: Option<u32>,
    /// Seconds a client has to send a request's head (also between requests
    /// on a kept-alive connection).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
}

/// `phx serve`.
pub fn serve(a: ServeArgs) -> u8 {
    let exp = match a.dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let key = phx_app::share::key_path(&exp, a.key.as_deref().map(std::path::Path::new)).ok();
    let app = match phx_serve::App::new(exp, key) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("error: cannot use the share secret: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return exit::ENVIRONMENT;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&a.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}\n  help: choose another --addr", a.addr);
                return exit::ENVIRONMENT;
            }
        };
        let local = listener.local_addr().map(|x| x.to_string()).unwrap_or(a.addr.clone());
        eprintln!("phx serve: http://{local} (share links: `phx share create --run RUN`); Ctrl-C stops");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let mut limits = phx_serve::Limits::default();
        if let Some(n) = a.max_connections {
            limits.max_connections = n as usize;
        }
        limits.header_timeout = std::time::Duration::from_secs(a.header_timeout);
        match phx_serve::serve_with(app, listener, limits, shutdown).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                exit::ENVIRONMENT
            }
        }
    })
}
