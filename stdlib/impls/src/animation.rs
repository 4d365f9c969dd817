//! `plot.animation`: frames of a field, rendered in parallel, encoded as MP4
//! (H.264) when `ffmpeg` is on the machine, otherwise as an animated GIF;
//! always with a thumbnail strip. The metadata says which format it is.

use std::path::Path;

use phx_runtime::tool::{BoxFuture, Invocation, Produced, ProducedOutput, Tool, ToolError};

use crate::chart::viridis;
use crate::common::{arg, string};
use crate::field::Field;

/// Pixels per side of a frame.
const SIDE: usize = 128;

/// One frame: intensities in [0, 1], row 0 at the top.
type Frame = Vec<f32>;

fn sample(field: &Field, p: [f64; 3]) -> f64 {
    let mut idx = [0usize; 3];
    for a in 0..3 {
        let t = (p[a] - field.lo[a]) / (field.hi[a] - field.lo[a]);
        if !(0.0..=1.0).contains(&t) {
            return 0.0;
        }
        idx[a] = ((t * (field.shape[a] - 1) as f64).round() as usize).min(field.shape[a] - 1);
    }
    field.values[(idx[2] * field.shape[1] + idx[1]) * field.shape[0] + idx[0]]
}

/// Frame `k` of `frames`: the projection (sum along the view) of a 3D field
/// from a camera turned by 2 pi k / frames about the x axis; or, for
/// `sweep`, the xz slice at a depth that moves through the field.
fn render(field: &Field, motion: &str, k: usize, frames: usize, e: f64) -> Frame {
    let theta = 2.0 * std::f64::consts::PI * k as f64 / frames as f64;
    let mut out = vec![0f32; SIDE * SIDE];
    let steps = field.shape[0].max(16);
    for row in 0..SIDE {
        let v = e * (1.0 - 2.0 * row as f64 / (SIDE - 1) as f64);
        for col in 0..SIDE {
            let u = e * (2.0 * col as f64 / (SIDE - 1) as f64 - 1.0);
            let value = match motion {
                "sweep" => {
                    let depth = -e + 2.0 * e * k as f64 / (frames.max(2) - 1) as f64;
                    sample(field, [u, depth, v])
                }
                _ => {
                    // The camera orbits about the x axis: the screen's axes
                    // are e1 = x and e2 = (0, -sin, cos), the view is
                    // d = (0, cos, sin); at theta = 0 it shows the xz plane.
                    let (sn, cs) = theta.sin_cos();
                    let mut sum = 0.0;
                    for t in 0..steps {
                        let w = -e + 2.0 * e * t as f64 / (steps - 1) as f64;
                        sum += sample(field, [u, -v * sn + w * cs, v * cs + w * sn]);
                    }
                    sum
                }
            };
            out[row * SIDE + col] = value as f32;
        }
    }
    out
}

/// Frame `k` of `frames` of a 2D field read as x by t: the profile along x
/// at the matching time row, as a bright curve over a dimmer filled area;
/// the height scale is the whole field's maximum, so frames compare.
fn render_profile(field: &Field, k: usize, frames: usize) -> Frame {
    let (nx, nt) = (field.shape[0], field.shape[1]);
    let row_t = if frames < 2 { 0 } else { (k * (nt - 1) + (frames - 1) / 2) / (frames - 1) }.min(nt - 1);
    let profile = &field.values[row_t * nx..(row_t + 1) * nx];
    let max = field.values.iter().fold(0f64, |a, b| a.max(b.abs())).max(f64::MIN_POSITIVE);
    let mut out = vec![0f32; SIDE * SIDE];
    let mut previous: Option<usize> = None;
    for col in 0..SIDE {
        let i = ((col as f64 / (SIDE - 1) as f64) * (nx - 1) as f64).round() as usize;
        let h = (profile[i.min(nx - 1)].abs() / max).min(1.0);
        // Row 0 is the top; keep a margin of 4 pixels above the maximum.
        let top = (SIDE - 1) - (h * (SIDE - 5) as f64).round() as usize;
        for row in top..SIDE {
            out[row * SIDE + col] = 0.45;
        }
        // Join the curve to the previous column so steep flanks stay solid.
        let (a, b) = previous.map_or((top, top), |p| (p.min(top), p.max(top)));
        for row in a..=b {
            out[row * SIDE + col] = 1.0;
        }
        previous = Some(top);
    }
    out
}

/// The radius (from the centre) that holds 99% of the field's total, so the
/// frames show the object, not the empty box around it.
fn view_radius(field: &Field) -> f64 {
    let extent = field.hi.iter().chain(field.lo.iter()).fold(0f64, |a, b| a.max(b.abs()));
    let bins = 256;
    let mut hist = vec![0f64; bins];
    let r_max = extent * 3f64.sqrt();
    let (nx, ny) = (field.shape[0], field.shape[1]);
    for (idx, v) in field.values.iter().enumerate() {
        let (i, j, k) = (idx % nx, (idx / nx) % ny, idx / (nx * ny));
        let c = |a: usize, n: usize| {
            field.lo[a] + (field.hi[a] - field.lo[a]) * n as f64 / (field.shape[a] - 1).max(1) as f64
        };
        let (x, y, z) = (c(0, i), c(1, j), c(2, k));
        let r = (x * x + y * y + z * z).sqrt();
        hist[((r / r_max) * (bins - 1) as f64) as usize] += v.abs();
    }
    let total: f64 = hist.iter().sum();
    let mut acc = 0.0;
    for (b, h) in hist.iter().enumerate() {
        acc += h;
        if acc >= 0.99 * total {
            return (r_max * (b + 1) as f64 / bins as f64 * 1.15).min(extent);
        }
    }
    extent
}

/// Renders every frame, spread over the machine's cores; `stop` is asked
/// between frames.
fn frames_of(field: &Field, motion: &str, frames: usize, stop: &(dyn Fn() -> bool + Sync)) -> Vec<Frame> {
    let e = if field.shape.len() == 3 { view_radius(field) } else { 0.0 };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<Frame> = vec![Vec::new(); frames];
    let per = frames.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (c, chunk) in out.chunks_mut(per).enumerate() {
            s.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    if stop() {
                        return;
                    }
                    *slot = if field.shape.len() == 2 {
                        render_profile(field, c * per + i, frames)
                    } else {
                        render(field, motion, c * per + i, frames, e)
                    };
                }
            });
        }
    });
    // One scale for the whole animation, so brightness means the same.
    let max = out.iter().flatten().fold(0f32, |a, b| a.max(*b)).max(f32::MIN_POSITIVE);
    for f in &mut out {
        for v in f.iter_mut() {
            *v /= max;
        }
    }
    out
}

fn palette() -> Vec<u8> {
    (0..256)
        .flat_map(|i| {
            let c = viridis(f64::from(i) / 255.0);
            [c.0, c.1, c.2]
        })
        .collect()
}

/// Encodes frames as an infinitely looping GIF.
pub fn encode_gif(frames: &[Frame], fps: u32, path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let pal = palette();
    let mut enc = gif::Encoder::new(file, SIDE as u16, SIDE as u16, &pal).map_err(|e| e.to_string())?;
    enc.set_repeat(gif::Repeat::Infinite).map_err(|e| e.to_string())?;
    let delay = (100 / fps.max(1)).max(2) as u16;
    for f in frames {
        let indices: Vec<u8> = f.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        let mut frame = gif::Frame::from_indexed_pixels(SIDE as u16, SIDE as u16, indices, None);
        frame.delay = delay;
        enc.write_frame(&frame).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Pixels of a frame, coloured, into `rgb` at column offset `left` of a
/// raster `stride` pixels wide.
fn paint(frame: &Frame, rgb: &mut [u8], left: usize, stride: usize) {
    for (i, v) in frame.iter().enumerate() {
        let c = viridis(f64::from(*v));
        let at = ((i / SIDE) * stride + left + i % SIDE) * 3;
        if let Some(px) = rgb.get_mut(at..at + 3) {
            px.copy_from_slice(&[c.0, c.1, c.2]);
        }
    }
}

fn write_png(frame: &Frame, path: &Path) -> Result<(), String> {
    let mut rgb = vec![0u8; SIDE * SIDE * 3];
    paint(frame, &mut rgb, 0, SIDE);
    let png = crate::figure::encode_png(SIDE as u32, SIDE as u32, rgb)?;
    std::fs::write(path, png).map_err(|e| e.to_string())
}

/// A strip of up to six frames side by side.
pub fn thumbnail_strip(frames: &[Frame], path: &Path) -> Result<(), String> {
    let n = frames.len().clamp(1, 6);
    let mut rgb = vec![0u8; SIDE * n * SIDE * 3];
    for t in 0..n {
        if let Some(f) = frames.get(t * frames.len() / n) {
            paint(f, &mut rgb, t * SIDE, SIDE * n);
        }
    }
    let png = crate::figure::encode_png((SIDE * n) as u32, SIDE as u32, rgb)?;
    std::fs::write(path, png).map_err(|e| e.to_string())
}

/// Encodes with ffmpeg (H.264) when it is on PATH; `None` when it is not.
fn encode_mp4(frames: &[Frame], fps: u32, dir: &Path) -> Option<std::path::PathBuf> {
    let ffmpeg = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("ffmpeg")).find(|f| f.is_file()))?;
    let frame_dir = dir.join("frames");
    std::fs::create_dir_all(&frame_dir).ok()?;
    for (i, f) in frames.iter().enumerate() {
        write_png(f, &frame_dir.join(format!("{i:05}.png"))).ok()?;
    }
    let out = dir.join("animation.mp4");
    let status = std::process::Command::new(ffmpeg)
        .args(["-loglevel", "error", "-y", "-framerate", &fps.to_string(), "-i"])
        .arg(frame_dir.join("%05d.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .ok()?;
    status.success().then_some(out)
}

/// Animates `field` (`motion`: `rotate` or `sweep` for a 3D field, `time`
/// for a 2D field read as x by t): outputs `NAME` (an Animation, MP4 or
/// GIF) and `NAME_thumbnails` (its strip), with their metadata.
pub fn animate(
    inv: &Invocation,
    field: &Field,
    motion: &str,
    frames_n: usize,
    fps: u32,
    name: &str,
) -> Result<Vec<ProducedOutput>, ToolError> {
    let t0 = std::time::Instant::now();
    let frames = frames_of(field, motion, frames_n, &|| inv.should_stop());
    if let Some(stop) = inv.interrupted() {
        return Err(stop);
    }
    let dir = inv.work_dir.join(format!(".{name}"));
    std::fs::create_dir_all(&dir).map_err(|e| ToolError::failed(format!("cannot prepare the frames: {e}")))?;
    let (format, file) = match encode_mp4(&frames, fps, &dir) {
        Some(mp4) => ("mp4", mp4),
        None => {
            let gif = dir.join("animation.gif");
            encode_gif(&frames, fps, &gif).map_err(|e| ToolError::failed(format!("cannot encode the GIF: {e}")))?;
            ("gif", gif)
        }
    };
    let strip = dir.join("thumbs.png");
    thumbnail_strip(&frames, &strip).map_err(|e| ToolError::failed(format!("cannot draw the thumbnail strip: {e}")))?;
    let mut anim = crate::common::collect_file(inv, name, "Animation", &file)?;
    anim.meta = serde_json::json!({"format": format, "frames": frames_n, "fps": fps, "mesh": [SIDE, SIDE], "samples": frames_n * SIDE * SIDE, "dtype": "rgb8", "motion": motion, "duration_ms": t0.elapsed().as_millis() as u64});
    let mut thumbs = crate::common::collect_file(inv, &format!("{name}_thumbnails"), "Image", &strip)?;
    thumbs.meta = serde_json::json!({"frames_shown": frames_n.min(6)});
    Ok(vec![anim, thumbs])
}

/// `plot.animation(field, frames, motion, fps)`.
pub struct Animation;

impl Tool for Animation {
    fn code_version(&self) -> String {
        crate::code_version("plot.animation")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let field = crate::plot::read_field(&inv, "field")?;
            let motion = string(&inv, "motion")?;
            match (field.shape.len(), motion.as_str()) {
                (3, _) | (2, "time" | "sweep") => {}
                (2, _) => {
                    return Err(ToolError::failed(format!(
                        "a 2D field (x by t) animates with motion = \"time\", not \"{motion}\""
                    )));
                }
                (d, _) => {
                    return Err(ToolError::failed(format!(
                        "plot.animation draws 2D and 3D fields; this one has {d} axes"
                    )));
                }
            }
            let frames_n = arg(&inv, "frames")?.as_int().unwrap_or(60).max(1) as usize;
            crate::common::check_cap(&inv, "frames", frames_n as i64, 300)?;
            let fps = arg(&inv, "fps")?.as_int().unwrap_or(24).clamp(1, 120) as u32;
            let outputs = animate(&inv, &field, &motion, frames_n, fps, "animation")?;
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}
