//! The prompt material of `phx gen`: the tools chosen for a request and the
//! example program made from them.

use phx_db::gbnf;
use phx_db::prompt::{self, select_tools};

fn names(request: &str) -> Vec<String> {
    select_tools(request, &gbnf::stdlib_tools(), 5).tools.iter().map(|t| t.name.clone()).collect()
}

#[test]
fn the_example_for_every_tool_checks_clean() {
    let all = gbnf::stdlib_tools();
    for t in &all {
        for sweep in [false, true] {
            let sel = select_tools(&format!("use {}", t.name), &all, 5);
            assert!(sel.tools.iter().any(|x| x.name == t.name), "{}: {:?}", t.name, names(&t.name));
            let sel = prompt::Selection { sweep, ..sel };
            let (example, stuck) = prompt::example_program(&sel);
            assert!(
                stuck.is_empty(),
                "the example for {} (sweep {sweep}) does not check:\n{example}\n{stuck:?}",
                t.name
            );
            assert!(example.contains(&format!("{}(", t.name)), "{example}");
        }
    }
}

#[test]
fn requests_choose_the_tools_they_name() {
    for (request, want) in [
        (
            "Compute the hydrogen 1s orbital density on a 64 grid and plot an xz slice",
            &["quantum.orbital", "plot.heatmap"][..],
        ),
        (
            "Find the lowest five energy levels of a harmonic oscillator and plot them",
            &["quantum.eigen1d", "plot.line"],
        ),
        ("Load measurements.csv and fit an exponential decay to columns t and y", &["data.load_csv", "data.fit"]),
        ("Animate a Gaussian wave packet tunnelling through a barrier", &["quantum.wavepacket", "plot.animation"]),
        ("Export the 2p orbital density to VTK for ParaView", &["quantum.orbital", "export.vtk"]),
        (
            "A contact sheet of xz slices of the orbitals n = 1 to 3",
            &["quantum.orbital", "plot.heatmap", "plot.contact_sheet"],
        ),
    ] {
        let got = names(request);
        for w in want {
            assert!(got.iter().any(|g| g == w), "{request}: {got:?} lacks {w}");
        }
    }
    assert!(select_tools("hydrogen orbitals for n = 1 to 3", &gbnf::stdlib_tools(), 5).sweep);
    assert!(!select_tools("the hydrogen 2p orbital", &gbnf::stdlib_tools(), 5).sweep);
}

/// The prompt of every benchmark request stays small: under 4,200
/// characters with the request (SmolLM2's tokenizer reads this text at
/// about three characters a token, so under 1,500 tokens; bench/nl/run.py
/// counts them with the server's own tokenizer).
#[test]
fn the_prompt_of_every_benchmark_task_is_small() {
    let all = gbnf::stdlib_tools();
    let tasks: serde_json::Value =
        serde_json::from_str(include_str!("../../../bench/nl/tasks.json")).expect("bench/nl/tasks.json");
    let tasks = tasks.as_array().unwrap();
    assert!(tasks.len() >= 30);
    for t in tasks {
        let request = t["request"].as_str().unwrap();
        let sel = select_tools(request, &all, 5);
        let (example, stuck) = prompt::example_program(&sel);
        assert!(stuck.is_empty(), "{request}: {stuck:?}");
        let system = prompt::system_prompt(&sel, &all, &example);
        let size = system.chars().count() + request.chars().count();
        assert!(size < 4200, "{request}: {size} characters\n{system}");
    }
}
