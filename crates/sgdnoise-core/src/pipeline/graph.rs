//! The stage graph: cycles are reported with their path, and the topological order (Kahn's, over
//! plain adjacency lists) breaks ties by declaration order so runs start in a deterministic order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Topological order of stages `0..n` given `needs[i]` (the stages i depends on), or the stages
/// of a cycle, in order, starting and ending with the same stage.
pub fn order(needs: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = needs.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree: Vec<usize> = vec![0; n];
    for (i, deps) in needs.iter().enumerate() {
        for &d in deps {
            dependents[d].push(i);
            indegree[i] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        out.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    Err(find_cycle(needs, &indegree))
}

/// A cycle among the stages left with a positive in-degree.
fn find_cycle(needs: &[Vec<usize>], indegree: &[usize]) -> Vec<usize> {
    let start = (0..needs.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
    // Walk backwards along `needs` inside the blocked set until a stage repeats.
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = needs[cur].iter().copied().find(|&d| indegree[d] > 0).unwrap_or(cur);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle;
        }
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_declaration_and_reports_cycles() {
        assert_eq!(order(&[vec![], vec![0], vec![], vec![1, 2]]).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(order(&[vec![2], vec![], vec![1]]).unwrap(), vec![1, 2, 0]);
        let cycle = order(&[vec![], vec![2], vec![1]]).unwrap_err();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 3);
        assert_eq!(order(&[vec![0]]).unwrap_err(), vec![0, 0]);
    }
}
