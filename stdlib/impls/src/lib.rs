//! The standard library's tools, implemented in Rust behind the runtime's
//! [`Tool`] trait. The compiler knows their schemas (`stdlib/tools/*.phx`);
//! this crate is what runs them. Each module is one namespace.

mod analysis;
mod animation;
mod cas;
pub mod chart;
mod common;
mod data;
pub mod eigen;
pub mod field;
pub mod figure;
pub mod fit;
pub mod gltf;
pub mod orbital;
mod orbital_cuda;
pub mod plot;
mod quantum;
mod scalar;
pub mod sheet;
pub mod surface;
pub mod symbolic;
pub mod typeset;
pub mod vectors;
mod visuals;
mod vtk;
pub mod wavepacket;

use std::sync::Arc;

use phx_runtime::command::Registry;
use phx_runtime::tool::Tool;

/// A tool's code version: its name and the hash of this crate's source, so
/// a change to any implementation re-runs the nodes that used it (a stale
/// cache hit would be worse than a needless re-run).
pub fn code_version(tool: &str) -> String {
    format!("{tool}@{}", env!("PHX_STDLIB_SOURCE_HASH"))
}

/// Registers every tool this crate implements.
pub fn register(reg: &mut Registry) {
    let tools: [(&str, Arc<dyn Tool>); 24] = [
        ("plot.line", Arc::new(plot::Line)),
        ("quantum.eigen1d", Arc::new(eigen::Eigen1d)),
        ("plot.contact_sheet", Arc::new(sheet::ContactSheet)),
        ("cas.diff", Arc::new(symbolic::Diff)),
        ("cas.simplify", Arc::new(symbolic::Simplify)),
        ("quantum.wavepacket", Arc::new(wavepacket::Wavepacket)),
        ("plot.animation", Arc::new(animation::Animation)),
        ("plot.heatmap", Arc::new(plot::Heatmap)),
        ("quantum.orbital", Arc::new(quantum::Orbital)),
        ("field.evaluate", Arc::new(quantum::Evaluate)),
        ("constants.get", Arc::new(scalar::ConstantsGet)),
        ("units.convert", Arc::new(scalar::UnitsConvert)),
        ("cas.integrate", Arc::new(cas::Integrate)),
        ("cas.solve", Arc::new(cas::Solve)),
        ("data.load_csv", Arc::new(data::LoadCsv)),
        ("data.stack", Arc::new(data::Stack)),
        ("export.csv", Arc::new(data::ExportCsv)),
        ("data.fft", Arc::new(analysis::DataFft)),
        ("ml.pca", Arc::new(analysis::Pca)),
        ("data.fit", Arc::new(fit::DataFit)),
        ("export.vtk", Arc::new(vtk::ExportVtk)),
        ("export.gltf", Arc::new(gltf::ExportGltf)),
        ("plot.surface", Arc::new(surface::Surface)),
        ("plot.vector_field", Arc::new(vectors::VectorField)),
    ];
    for (name, tool) in tools {
        // Plot tools draw their own pictures; the others get views of
        // their data when a node emits `static`.
        let tool: Arc<dyn Tool> = if name.starts_with("plot.") { tool } else { Arc::new(visuals::WithVisuals(tool)) };
        reg.insert(name, tool);
    }
}

/// The registry of a full build: command-backed tools, `shell.run`, and
/// everything this crate implements.
pub fn registry() -> Registry {
    let mut r = Registry::standard();
    register(&mut r);
    r
}
