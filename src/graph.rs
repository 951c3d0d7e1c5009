//! The dependency graph (petgraph): nodes and sources as vertices, an edge from each dependency
//! to its dependent. Cycles are reported with the whole path and each file.
//! In: [`Manifest`]. Out: [`Dag`].

use crate::diagnostics::Diagnostic;
use crate::parse::Manifest;
use crate::templating::FastMap;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

/// The DAG of one project.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    /// Vertex `i` is `ids[i]`: the ids are sorted, so a vertex is found by a binary search and
    /// vertices compare as their ids do.
    graph: DiGraph<(), ()>,
    ids: Vec<String>,
    order: Vec<String>,
}

impl Dag {
    /// Build the graph; a cycle is a diagnostic (an error) naming every step and file. With a
    /// cycle the order holds only the nodes outside it and before it (what Kahn's algorithm
    /// reached): enough for `parse`, which dbt runs to the end on a cyclic project.
    pub fn build(manifest: &Manifest) -> (Dag, Option<Diagnostic>) {
        // Vertices in unique-id order, so that a vertex's index is its rank among the ids (the
        // topological order breaks ties by it). Both maps are sorted: one merge.
        let mut ids: Vec<&String> = manifest.sources.keys().chain(manifest.nodes.keys()).collect();
        ids.sort();
        let index: FastMap<&str, NodeIndex> =
            ids.iter().enumerate().map(|(i, id)| (id.as_str(), NodeIndex::new(i))).collect();
        let mut graph = DiGraph::with_capacity(ids.len(), ids.len());
        for _ in &ids {
            graph.add_node(());
        }
        // Each node's edges are looked up on every core, then added in node order.
        let edges: Vec<Vec<(NodeIndex, NodeIndex)>> = {
            use rayon::prelude::*;
            manifest
                .nodes
                .par_iter()
                .map(|(id, n)| {
                    let Some(&b) = index.get(id.as_str()) else { return vec![] };
                    n.depends_on.iter().filter_map(|d| index.get(d.as_str()).map(|&a| (a, b))).collect()
                })
                .collect()
        };
        drop(index);
        let mut dag = Dag { graph, ids: ids.into_iter().cloned().collect(), order: vec![] };
        for (a, b) in edges.into_iter().flatten() {
            dag.graph.add_edge(a, b, ());
        }
        // Kahn's algorithm orders every node unless there is a cycle; only then is it looked for.
        let (order, complete) = dag.topo();
        dag.order = order;
        if complete {
            return (dag, None);
        }
        if let Some(mut cycle) = dag.find_cycle() {
            // The path follows edges from a dependency to its dependent; report it in ref order
            // (each node refs the next), starting from the same node.
            cycle.reverse();
            cycle.rotate_right(1);
            let names: Vec<String> = cycle.iter().map(|id| short(id)).collect();
            let span_of = |i: usize| {
                let next = &cycle[(i + 1) % cycle.len()];
                manifest.nodes.get(&cycle[i]).map(|n| crate::parse::ref_span(n, &short(next)))
            };
            let mut d = Diagnostic::error("E0203", format!("dependency cycle: {} -> {}", names.join(" -> "), names[0]))
                .with_opt_span(span_of(0))
                .with_help("remove one of these refs to break the cycle");
            for (i, id) in cycle.iter().enumerate() {
                let next = &cycle[(i + 1) % cycle.len()];
                let file = manifest.nodes.get(id).map(|n| n.original_file_path.clone()).unwrap_or_default();
                d = d.with_note(format!("{} ({file}) refs {}", short(id), short(next)));
            }
            return (dag, Some(d));
        }
        (dag, None)
    }

    /// Deterministic topological order: Kahn's algorithm, ties broken by unique id (a vertex's
    /// index, as [`Dag::build`] adds them in id order); false when a cycle left nodes unordered.
    fn topo(&self) -> (Vec<String>, bool) {
        let g = &self.graph;
        let n = g.node_count();
        let mut indeg: Vec<usize> =
            g.node_indices().map(|i| g.neighbors_directed(i, Direction::Incoming).count()).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            g.node_indices().filter(|i| indeg[i.index()] == 0).map(|i| Reverse(i.index())).collect();
        let mut out = Vec::with_capacity(n);
        while let Some(Reverse(r)) = ready.pop() {
            let i = NodeIndex::new(r);
            out.push(self.ids[r].clone());
            for c in g.neighbors_directed(i, Direction::Outgoing) {
                indeg[c.index()] -= 1;
                if indeg[c.index()] == 0 {
                    ready.push(Reverse(c.index()));
                }
            }
        }
        let complete = out.len() == n;
        (out, complete)
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        let mut sccs = petgraph::algo::tarjan_scc(&self.graph);
        // Vertices are numbered in id order.
        sccs.iter_mut().for_each(|s| s.sort_unstable());
        sccs.sort_by_key(|s| s[0]);
        for scc in sccs {
            if scc.len() == 1 && !self.graph.contains_edge(scc[0], scc[0]) {
                continue;
            }
            let set: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let start = scc[0];
            // BFS inside the component for the shortest path back to start.
            let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
            let mut queue = VecDeque::from([start]);
            while let Some(cur) = queue.pop_front() {
                let mut next: Vec<NodeIndex> =
                    self.graph.neighbors_directed(cur, Direction::Outgoing).filter(|n| set.contains(n)).collect();
                next.sort_unstable();
                for n in next {
                    if n == start {
                        let mut path = vec![cur];
                        let mut p = cur;
                        while p != start {
                            p = prev[&p];
                            path.push(p);
                        }
                        path.reverse();
                        return Some(path.into_iter().map(|i| self.ids[i.index()].clone()).collect());
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(n) {
                        e.insert(cur);
                        queue.push_back(n);
                    }
                }
            }
        }
        None
    }

    /// All unique ids in dependency order.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Direct parents.
    pub fn parents(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Incoming)
    }

    /// Direct children.
    pub fn children(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Outgoing)
    }

    /// Direct parents, borrowed and in no order (a parent may repeat): for hot loops.
    pub fn parents_iter<'a>(&'a self, id: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.index(id).into_iter().flat_map(move |i| {
            self.graph.neighbors_directed(i, Direction::Incoming).map(|n| self.ids[n.index()].as_str())
        })
    }

    fn neighbors(&self, id: &str, dir: Direction) -> Vec<String> {
        let Some(i) = self.index(id) else { return vec![] };
        let mut v: Vec<String> = self.graph.neighbors_directed(i, dir).map(|n| self.ids[n.index()].clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Ancestors (`upstream`) or descendants up to `depth` steps (None: all).
    pub fn walk(&self, id: &str, upstream: bool, depth: Option<usize>) -> BTreeSet<String> {
        let dir = if upstream { Direction::Incoming } else { Direction::Outgoing };
        let mut seen = BTreeSet::new();
        let Some(start) = self.index(id) else { return seen };
        let mut queue = VecDeque::from([(start, 0usize)]);
        while let Some((cur, d)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for n in self.graph.neighbors_directed(cur, dir) {
                if seen.insert(self.ids[n.index()].clone()) {
                    queue.push_back((n, d + 1));
                }
            }
        }
        seen
    }

    /// Whether the id is in the graph.
    pub fn contains(&self, id: &str) -> bool {
        self.index(id).is_some()
    }

    /// The vertex of an id.
    fn index(&self, id: &str) -> Option<NodeIndex> {
        self.ids.binary_search_by(|x| x.as_str().cmp(id)).ok().map(NodeIndex::new)
    }
}

fn short(id: &str) -> String {
    id.split('.').skip(2).collect::<Vec<_>>().join(".")
}
