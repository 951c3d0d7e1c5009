//! The dependency graph (petgraph): nodes and sources as vertices, an edge from each dependency
//! to its dependent. Cycles are reported with the whole path and each file.
//! In: [`Manifest`]. Out: [`Dag`].

use crate::diagnostics::Diagnostic;
use crate::parse::Manifest;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// The DAG of one project.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
    order: Vec<String>,
}

impl Dag {
    /// Build the graph; a cycle is a diagnostic naming every step and file.
    pub fn build(manifest: &Manifest) -> Result<Dag, Diagnostic> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for id in manifest.sources.keys().chain(manifest.nodes.keys()) {
            index.insert(id.clone(), graph.add_node(id.clone()));
        }
        for n in manifest.nodes.values() {
            for d in &n.depends_on {
                if let (Some(&a), Some(&b)) = (index.get(d), index.get(&n.unique_id)) {
                    graph.add_edge(a, b, ());
                }
            }
        }
        let mut dag = Dag { graph, index, order: vec![] };
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
            return Err(d);
        }
        dag.order = dag.topo();
        Ok(dag)
    }

    /// Deterministic topological order: Kahn's algorithm, ties broken by unique id.
    fn topo(&self) -> Vec<String> {
        let mut indeg: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|i| (i, self.graph.neighbors_directed(i, Direction::Incoming).count()))
            .collect();
        let mut ready: BTreeSet<(String, NodeIndex)> =
            indeg.iter().filter(|(_, &d)| d == 0).map(|(&i, _)| (self.graph[i].clone(), i)).collect();
        let mut out = Vec::with_capacity(indeg.len());
        while let Some(first) = ready.iter().next().cloned() {
            ready.remove(&first);
            out.push(first.0.clone());
            for c in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                let e = indeg.entry(c).or_default();
                *e -= 1;
                if *e == 0 {
                    ready.insert((self.graph[c].clone(), c));
                }
            }
        }
        out
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        let mut sccs = petgraph::algo::tarjan_scc(&self.graph);
        sccs.iter_mut().for_each(|s| s.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b])));
        sccs.sort_by(|a, b| self.graph[a[0]].cmp(&self.graph[b[0]]));
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
                next.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
                for n in next {
                    if n == start {
                        let mut path = vec![cur];
                        let mut p = cur;
                        while p != start {
                            p = prev[&p];
                            path.push(p);
                        }
                        path.reverse();
                        return Some(path.into_iter().map(|i| self.graph[i].clone()).collect());
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

    fn neighbors(&self, id: &str, dir: Direction) -> Vec<String> {
        let Some(&i) = self.index.get(id) else { return vec![] };
        let mut v: Vec<String> = self.graph.neighbors_directed(i, dir).map(|n| self.graph[n].clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Ancestors (`upstream`) or descendants up to `depth` steps (None: all).
    pub fn walk(&self, id: &str, upstream: bool, depth: Option<usize>) -> BTreeSet<String> {
        let dir = if upstream { Direction::Incoming } else { Direction::Outgoing };
        let mut seen = BTreeSet::new();
        let Some(&start) = self.index.get(id) else { return seen };
        let mut queue = VecDeque::from([(start, 0usize)]);
        while let Some((cur, d)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for n in self.graph.neighbors_directed(cur, dir) {
                if seen.insert(self.graph[n].clone()) {
                    queue.push_back((n, d + 1));
                }
            }
        }
        seen
    }

    /// Whether the id is in the graph.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }
}

fn short(id: &str) -> String {
    id.split('.').skip(2).collect::<Vec<_>>().join(".")
}
