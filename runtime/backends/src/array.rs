//! Planning job arrays: how many instances of a sweep family one array
//! task runs (its batch), and how the tasks are cut into arrays no larger
//! than the cluster's `MaxArraySize`. Pure functions, so the numbers that
//! decide how many `sbatch` calls a large sweep costs are tested here.

use std::ops::Range;

/// The `MaxArraySize` assumed when the cluster's configuration cannot be
/// read (Slurm's own default).
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// An automatic batch aims at this many array tasks per submission: enough
/// to keep a partition's cores busy, few enough that each task's fixed
/// cost (starting `phx worker`, compiling the program once) is shared by
/// many instances.
pub const AUTO_TASKS: usize = 64;

/// An automatic batch never holds more instances than this, so one task
/// that fails or is cancelled costs at most this many reruns.
pub const AUTO_BATCH_MAX: usize = 1000;

/// How many instances one array task runs: the node's `resources.batch`
/// when it gives one, else `n` instances spread over about [`AUTO_TASKS`]
/// tasks (at most [`AUTO_BATCH_MAX`] each). Always at least 1.
pub fn batch_size(n: usize, explicit: Option<usize>) -> usize {
    match explicit {
        Some(b) => b.max(1),
        None => n.div_ceil(AUTO_TASKS).clamp(1, AUTO_BATCH_MAX),
    }
}

/// The instances each task runs: `n` instances in order, `batch` to a task
/// (the last one takes the rest).
pub fn tasks(n: usize, batch: usize) -> Vec<Range<usize>> {
    let batch = batch.max(1);
    (0..n.div_ceil(batch)).map(|t| t * batch..((t + 1) * batch).min(n)).collect()
}

/// The tasks each array holds: `tasks` tasks cut into arrays of at most
/// `max_array` (a cluster's `MaxArraySize` bounds the indices to
/// `0..max_array`, so an array of `max_array` tasks is the largest).
pub fn arrays(tasks: usize, max_array: usize) -> Vec<Range<usize>> {
    let max = max_array.max(1);
    (0..tasks.div_ceil(max)).map(|a| a * max..((a + 1) * max).min(tasks)).collect()
}

/// The `--array` option of an array of `tasks` tasks, at most `throttle`
/// running at once: `--array=0-99%16`.
pub fn array_option(tasks: usize, throttle: Option<usize>) -> String {
    let last = tasks.saturating_sub(1);
    match throttle {
        Some(k) if k > 0 && k < tasks => format!("--array=0-{last}%{k}"),
        _ => format!("--array=0-{last}"),
    }
}

/// Reads `MaxArraySize` from the text of `scontrol show config`.
pub fn max_array_size(config: &str) -> Option<usize> {
    config.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "MaxArraySize").then(|| v.trim().parse::<usize>().ok()).flatten()
    })
}

/// Splits an array task's id (`1234_7`) into the array's id and the task's
/// index; a plain job id has no index.
pub fn split_task_id(id: &str) -> (&str, Option<usize>) {
    match id.split_once('_') {
        Some((job, task)) => (job, task.parse().ok()),
        None => (id, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_instance_once() {
        assert_eq!(tasks(10, 3), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(tasks(6, 3), vec![0..3, 3..6]);
        assert_eq!(tasks(1, 100), vec![0..1]);
        assert!(tasks(0, 5).is_empty());
        assert_eq!(tasks(3, 0), vec![0..1, 1..2, 2..3], "a batch of 0 is 1");
        for (n, b) in [(100_000, 391), (10_000, 157), (7, 2)] {
            let t = tasks(n, b);
            assert_eq!(t.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(t.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn automatic_batches_aim_at_a_few_dozen_tasks() {
        assert_eq!(batch_size(1, None), 1);
        assert_eq!(batch_size(64, None), 1);
        assert_eq!(batch_size(65, None), 2);
        assert_eq!(batch_size(10_000, None), 157);
        assert_eq!(tasks(10_000, batch_size(10_000, None)).len(), 64);
        assert_eq!(batch_size(100_000, None), 1000.min(100_000usize.div_ceil(64)));
        assert_eq!(batch_size(10_000_000, None), AUTO_BATCH_MAX);
        assert_eq!(batch_size(10_000, Some(100)), 100);
        assert_eq!(batch_size(10_000, Some(0)), 1);
    }

    #[test]
    fn arrays_are_split_at_max_array_size() {
        assert_eq!(arrays(10, 1001), vec![0..10]);
        assert_eq!(arrays(1001, 1001), vec![0..1001]);
        assert_eq!(arrays(1002, 1001), vec![0..1001, 1001..1002]);
        assert_eq!(arrays(2500, 1000), vec![0..1000, 1000..2000, 2000..2500]);
        assert!(arrays(0, 1001).is_empty());
        // 100,000 single-instance tasks with Slurm's default: 100 arrays.
        assert_eq!(arrays(100_000, DEFAULT_MAX_ARRAY_SIZE).len(), 100);
    }

    #[test]
    fn the_array_option_has_its_throttle() {
        assert_eq!(array_option(100, Some(16)), "--array=0-99%16");
        assert_eq!(array_option(10, Some(16)), "--array=0-9", "no throttle above the size");
        assert_eq!(array_option(1, None), "--array=0-0");
    }

    #[test]
    fn max_array_size_is_read_from_scontrol() {
        let text = "Configuration data as of 2026-11-28T10:00:00\nMailProg                = /bin/true\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n";
        assert_eq!(max_array_size(text), Some(1001));
        assert_eq!(max_array_size("MaxArraySize = 40001"), Some(40001));
        assert_eq!(max_array_size("MaxJobCount = 10"), None);
        assert_eq!(max_array_size("MaxArraySize = lots"), None);
    }

    #[test]
    fn task_ids_split() {
        assert_eq!(split_task_id("1234_7"), ("1234", Some(7)));
        assert_eq!(split_task_id("1234"), ("1234", None));
        assert_eq!(split_task_id("1234_[0-9%2]"), ("1234", None));
    }
}
