//! `phx share create|list|revoke` (links) and `phx serve` (the viewer).

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::common::{self, TextOrJson};
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
        #[arg(long, default_value = "read")]
        access: String,
        /// How long the link works: 30m, 72h, 7d.
        #[arg(long, default_value = "72h")]
        expires: String,
        /// Who it is for (repeatable); shown as the author of what they add.
        #[arg(long = "to")]
        to: Vec<String>,
        /// Where `phx serve` is reached, for the printed link.
        #[arg(long, default_value = "http://127.0.0.1:8470")]
        base_url: String,
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Every link: what it grants, to whom, until when, revoked or not.
    List {
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Revokes a link by its id (from `list`); it stops working at once.
    Revoke {
        id: String,
        #[arg(long, default_value = ".")]
        dir: String,
    },
}

/// `phx share ...`.
pub fn run(c: ShareCommand) -> u8 {
    match c {
        ShareCommand::Create { run, bundle, session, access, expires, to, base_url, dir, format } => {
            let store = match common::open_store(Path::new(&dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let (kind, resource) = match (run, bundle, session) {
                (Some(r), _, _) => ("run", r),
                (_, Some(b), _) => {
                    let abs = Path::new(&b).canonicalize().map(|p| p.display().to_string()).unwrap_or(b);
                    ("bundle", abs)
                }
                (_, _, Some(s)) => ("session", s),
                _ => {
                    eprintln!("error: say what to share\n  help: --run RUN, --session PROGRAM or --bundle FILE");
                    return exit::USAGE;
                }
            };
            let ttl = match phx_serve::links::parse_duration(&expires) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --expires: {e}");
                    return exit::USAGE;
                }
            };
            let link = match phx_serve::links::create(&store, kind, &resource, &access, ttl, to) {
                Ok(l) => l,
                Err(phx_serve::links::LinkError::Usage(m)) => {
                    eprintln!("error: {m}");
                    return exit::USAGE;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::ENVIRONMENT;
                }
            };
            let url = format!("{}/s/{}", base_url.trim_end_matches('/'), link.token);
            match format {
                TextOrJson::Json => common::print_json(&json!({
                    "id": link.row.id, "url": url, "token": link.token, "kind": kind, "resource": resource,
                    "access": link.row.access, "expires_at": link.row.expires_at, "to": link.row.participants,
                })),
                TextOrJson::Text => common::out(&format!(
                    "{url}\n{} access to {kind} {resource} until {} (unix {}); revoke with `phx share revoke {}`\n",
                    link.row.access,
                    phx_runtime::clock::rfc3339_of_unix(link.row.expires_at),
                    link.row.expires_at,
                    link.row.id
                )),
            }
            exit::OK
        }
        ShareCommand::List { dir, format } => {
            let store = match common::open_store(Path::new(&dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let rows = store.db.shares().unwrap_or_default();
            let now = phx_serve::links::now_unix();
            let state = |r: &phx_store::ShareRow| {
                if r.revoked_at.is_some() {
                    "revoked"
                } else if now >= r.expires_at {
                    "expired"
                } else {
                    "active"
                }
            };
            match format {
                TextOrJson::Json => common::print_json(&json!({"shares": rows.iter().map(|r| json!({
                    "id": r.id, "kind": r.resource_kind, "resource": r.resource_id, "access": r.access,
                    "expires_at": r.expires_at, "to": r.participants, "created_at": r.created_at,
                    "revoked_at": r.revoked_at, "state": state(r)})).collect::<Vec<_>>()})),
                TextOrJson::Text => {
                    let mut t = String::new();
                    for r in &rows {
                        t.push_str(&format!(
                            "{}  {:<7} {:<5} {} {}  until {}{}\n",
                            r.id,
                            state(r),
                            r.access,
                            r.resource_kind,
                            r.resource_id,
                            phx_runtime::clock::rfc3339_of_unix(r.expires_at),
                            if r.participants.is_empty() {
                                String::new()
                            } else {
                                format!("  to {}", r.participants.join(", "))
                            }
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
            let store = match common::open_store(Path::new(&dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match store.db.revoke_share(&id, &phx_runtime::clock::now_rfc3339()) {
                Ok(true) => {
                    common::out(&format!("revoked {id}\n"));
                    exit::OK
                }
                Ok(false) => {
                    eprintln!("error: no share link `{id}`\n  help: `phx share list` shows them");
                    exit::INVALID
                }
                Err(e) => {
                    eprintln!("error: {e}\n  help: {}", e.hint());
                    exit::ENVIRONMENT
                }
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
    #[arg(long, default_value = ".")]
    dir: String,
    /// The key that signs notebook entries added through write links
    /// (default: your notebook key).
    #[arg(long)]
    key: Option<String>,
}

/// `phx serve`.
pub fn serve(a: ServeArgs) -> u8 {
    let store = match common::open_store(Path::new(&a.dir)) {
        Ok(s) => Arc::new(s),
        Err(code) => return code,
    };
    let key = a.key.map(Into::into).or_else(phx_notebook::keys::default_key_path);
    let app = match phx_serve::App::new(store, key) {
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
        match phx_serve::serve(app, listener, shutdown).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                exit::ENVIRONMENT
            }
        }
    })
}
