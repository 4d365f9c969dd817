//! A large sweep folded into counts: for each sweep, how many of its
//! instances would run (in a plan) or ran (in a run) for each reason and how
//! many are cached, without an outcome per instance (a million instances
//! hold a handful of groups, not a million outcomes). Only instances that
//! went well are folded: one that failed, was skipped or cancelled keeps
//! its whole outcome.

use serde::{Deserialize, Serialize};

use crate::scheduler::NodeOutcome;
use crate::status::{BackendKind, NodeStatus};

/// The instances of one sweep, counted by status, place and reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FamilyTally {
    /// The sweep's node name.
    pub node: String,
    pub tool: String,
    /// How many instances are counted here.
    pub count: usize,
    /// The lowest index counted.
    pub lowest: usize,
    /// The highest index counted.
    pub highest: usize,
    /// One group per status, place and reason, in the order they first
    /// appeared.
    pub groups: Vec<TallyGroup>,
}

/// Instances of a sweep with the same status, place and reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TallyGroup {
    pub status: NodeStatus,
    /// Whether their results came from the cache (in a run: `succeeded`
    /// from the cache; in a plan the status says it: `cached`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// `local`, or the cluster they ran (or would run) on.
    pub backend: BackendKind,
    /// The device they ran (or would run) on: `cpu`, `gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Why they would run, with the ids of instances named in it made
    /// generic (`` `t[i]` ``), so that instances waiting on their own
    /// inputs fall into one group.
    pub why: Vec<String>,
    pub count: usize,
}

impl FamilyTally {
    /// An empty tally of the sweep `node`.
    pub fn new(node: &str, tool: &str) -> FamilyTally {
        FamilyTally {
            node: node.to_string(),
            tool: tool.to_string(),
            count: 0,
            lowest: usize::MAX,
            highest: 0,
            groups: Vec::new(),
        }
    }

    /// At most this many groups with reasons of their own; instances with
    /// yet another reason (each instance's argument changed in its own
    /// way) are counted together, under [`OTHER_REASONS`].
    pub const MAX_GROUPS: usize = 32;

    /// Counts instance `index` with outcome `o` (each index once).
    pub fn add(&mut self, index: usize, o: &NodeOutcome) {
        self.count += 1;
        self.lowest = self.lowest.min(index);
        self.highest = self.highest.max(index);
        let mut why: Vec<String> = o.why.iter().map(|w| own_input_free(&instance_free(w), index)).collect();
        let same = |g: &TallyGroup, why: &[String]| {
            g.status == o.status
                && g.cached == o.cached
                && g.backend == o.backend
                && g.device == o.device
                && g.why == why
        };
        // (Only a reason is replaced: what has none keeps its own group.)
        if self.groups.len() >= FamilyTally::MAX_GROUPS && !why.is_empty() && !self.groups.iter().any(|g| same(g, &why))
        {
            why = vec![OTHER_REASONS.to_string()];
        }
        match self.groups.iter_mut().find(|g| same(g, &why)) {
            Some(g) => g.count += 1,
            None => self.groups.push(TallyGroup {
                status: o.status,
                cached: o.cached,
                backend: o.backend,
                device: o.device.clone(),
                why,
                count: 1,
            }),
        }
    }

    /// Whether the counted indices are `lowest..=highest` without a gap.
    pub fn contiguous(&self) -> bool {
        self.count > 0 && self.highest - self.lowest + 1 == self.count
    }

    /// How many counted instances have `status`.
    pub fn with_status(&self, status: NodeStatus) -> usize {
        self.groups.iter().filter(|g| g.status == status).map(|g| g.count).sum()
    }

    /// How many counted instances came from the cache.
    pub fn cached(&self) -> usize {
        self.groups.iter().filter(|g| g.cached).map(|g| g.count).sum()
    }
}

/// Whether the outcome `o` of an instance of a sweep is folded into its
/// family's tally (when the run folds at all): it went well, so nothing in
/// it needs a line of its own.
pub fn folds(o: &NodeOutcome) -> bool {
    o.error.is_none() && matches!(o.status, NodeStatus::WouldRun | NodeStatus::Cached | NodeStatus::Succeeded)
}

/// The reason of the instances counted together once a sweep has
/// [`FamilyTally::MAX_GROUPS`] groups.
pub const OTHER_REASONS: &str = "other reasons";

/// `text` with the cache's `input NAME[k].OUT changed` made generic
/// (`input NAME[i].OUT changed`) when `k` is the instance's own `index`:
/// each instance of `b[i] = g(a[i].out)` names its own input, and all of
/// them say the same.
fn own_input_free(text: &str, index: usize) -> String {
    let generic = text
        .strip_prefix("input ")
        .and_then(|rest| rest.strip_suffix(" changed"))
        .and_then(|reference| reference.split_once('.'))
        .and_then(|(vertex, output)| match phx_store::parse_vertex_id(vertex) {
            Some((name, Some(k))) if k == index => Some(format!("input {name}[i].{output} changed")),
            _ => None,
        });
    generic.unwrap_or_else(|| text.to_string())
}

/// `text` with the instance indices of vertex ids quoted in it
/// (`` `orbital[3]` ``) made generic (`` `orbital[i]` ``); values outside
/// backquotes (an argument's text) are left as they are.
pub fn instance_free(text: &str) -> String {
    if !text.contains('`') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (k, piece) in text.split('`').enumerate() {
        if k > 0 {
            out.push('`');
        }
        let quoted = k % 2 == 1;
        match phx_store::parse_vertex_id(piece) {
            Some((name, Some(_))) if quoted => {
                out.push_str(name);
                out.push_str("[i]");
            }
            _ => out.push_str(piece),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: NodeStatus, why: &str) -> NodeOutcome {
        NodeOutcome {
            cached: status == NodeStatus::Cached,
            why: if why.is_empty() { vec![] } else { vec![why.to_string()] },
            ..NodeOutcome::of(&phx_dag::Vertex::lone("t", "x.y", vec![]), status)
        }
    }

    #[test]
    fn instances_group_by_status_and_generic_reason() {
        let mut t = FamilyTally::new("t", "x.y");
        t.add(4, &outcome(NodeStatus::WouldRun, "its input `s[4]` will be recomputed first"));
        t.add(5, &outcome(NodeStatus::WouldRun, "its input `s[5]` will be recomputed first"));
        t.add(6, &outcome(NodeStatus::Cached, ""));
        t.add(7, &outcome(NodeStatus::WouldRun, "argument n changed from 1 to 2"));
        assert_eq!(t.count, 4);
        assert!(t.contiguous());
        assert_eq!(t.groups.len(), 3);
        assert_eq!(t.groups[0].why, vec!["its input `s[i]` will be recomputed first"]);
        assert_eq!(t.groups[0].count, 2);
        assert_eq!(t.with_status(NodeStatus::WouldRun), 3);
        assert_eq!(t.with_status(NodeStatus::Cached), 1);
        t.add(9, &outcome(NodeStatus::Cached, ""));
        assert!(!t.contiguous(), "8 is missing");
    }

    #[test]
    fn a_run_counts_what_ran_apart_from_what_came_from_the_cache() {
        let mut t = FamilyTally::new("t", "x.y");
        let ran = outcome(NodeStatus::Succeeded, "it has never run before");
        let hit = NodeOutcome { cached: true, ..outcome(NodeStatus::Succeeded, "") };
        for (i, o) in [&ran, &hit, &hit, &ran, &hit].into_iter().enumerate() {
            assert!(folds(o));
            t.add(i, o);
        }
        assert_eq!(t.groups.len(), 2);
        assert_eq!(t.with_status(NodeStatus::Succeeded), 5);
        assert_eq!(t.cached(), 3);
        let failed = NodeOutcome { error: Some("exit 1".into()), ..outcome(NodeStatus::Failed, "") };
        assert!(!folds(&failed), "a failure keeps its own line");
        assert!(!folds(&outcome(NodeStatus::Skipped, "")));
    }

    #[test]
    fn a_changed_input_of_each_instance_s_own_is_one_reason() {
        let mut t = FamilyTally::new("b", "x.y");
        for i in 0..1000 {
            t.add(i, &outcome(NodeStatus::Succeeded, &format!("input a[{i}].out changed")));
        }
        assert_eq!(t.groups.len(), 1);
        assert_eq!(t.groups[0].why, vec!["input a[i].out changed"]);
        // Another instance's input is named as it is.
        let mut t = FamilyTally::new("b", "x.y");
        t.add(4, &outcome(NodeStatus::Succeeded, "input a[3].out changed"));
        assert_eq!(t.groups[0].why, vec!["input a[3].out changed"]);
    }

    #[test]
    fn reasons_of_their_own_beyond_the_cap_are_counted_together() {
        let mut t = FamilyTally::new("b", "x.y");
        for i in 0..10_000 {
            t.add(i, &outcome(NodeStatus::Succeeded, &format!("argument x changed from {i} to {}", i + 1)));
        }
        assert_eq!(t.groups.len(), FamilyTally::MAX_GROUPS + 1);
        let other = t.groups.last().unwrap();
        assert_eq!(other.why, vec![OTHER_REASONS.to_string()]);
        assert_eq!(other.count, 10_000 - FamilyTally::MAX_GROUPS);
        assert_eq!(t.with_status(NodeStatus::Succeeded), 10_000);
        // Cache hits after them have no reason to replace: a group of their own.
        t.add(10_000, &NodeOutcome { cached: true, ..outcome(NodeStatus::Succeeded, "") });
        assert_eq!((t.groups.last().unwrap().why.len(), t.cached()), (0, 1));
    }

    #[test]
    fn only_quoted_ids_lose_their_index() {
        assert_eq!(instance_free("input `a[3].out` changed"), "input `a[3].out` changed");
        assert_eq!(instance_free("`a[3]` and a[3]"), "`a[i]` and a[3]");
        assert_eq!(instance_free("no quotes [3]"), "no quotes [3]");
    }
}
