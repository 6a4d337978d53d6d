//! The fair-cycle check on hand-made graphs: what weak fairness admits and what it does not.

use super::graph::{Edge, Graph};
use super::lasso::Lasso;
use crate::SpecConfig;
use crate::actions::{Action, Op};
use crate::state::State;
use stateright::Model;

/// `n` distinct states, told apart by their crash budget (state `i` has `i` crashes left).
fn states(n: u8) -> Vec<State> {
    let s = SpecConfig::default().model().init_states().remove(0);
    (0..n).map(|i| State { crashes_left: i, ..s.clone() }).collect()
}

fn step(to: u32, task: u8) -> Edge {
    Edge { to, action: Action::Step { pid: 0, task, op: Op::Request } }
}

/// States 0 and 1 loop by task 0's steps; task 1 can leave to state 2 ("good") from state 0
/// and, if `t1_everywhere`, from state 1 too.
fn loop_with_exit(t1_everywhere: bool) -> Graph {
    let mut from1 = vec![step(0, 0)];
    if t1_everywhere {
        from1.push(step(2, 1));
    }
    Graph::from_edges(states(3), vec![vec![step(1, 0), step(2, 1)], from1, vec![step(2, 0)]])
}

fn not_done(s: &State) -> bool {
    s.crashes_left != 2
}

fn no_good(_: &State, _: &Edge, _: &State) -> bool {
    false
}

/// Task 1 is enabled in every state of the loop and never steps inside it: the loop is not
/// weakly fair, so it refutes nothing.
#[test]
fn a_cycle_that_ignores_a_continuously_enabled_task_is_unfair() {
    let g = loop_with_exit(true);
    assert!(Lasso::find(&g, not_done, no_good, |_| true).is_none());
}

/// Task 1 is disabled in state 1, so weak fairness does not force it: the loop is a fair
/// cycle, reported as a lasso that starts at the initial state.
#[test]
fn a_cycle_where_the_other_task_is_sometimes_disabled_is_fair() {
    let g = loop_with_exit(false);
    let lasso = Lasso::find(&g, not_done, no_good, |_| true).expect("a fair cycle");
    let text = lasso.render(&g, "starved");
    assert!(text.starts_with("  then, forever:\n  1. Step { pid: 0, task: 0"), "{text}");
    assert_eq!(text.matches("task: 0").count(), 2, "{text}");
}

/// The printed cycle is itself fair: task 1 is enabled in states 0 and 1 (not in 2) and
/// steps inside the component, so a cycle 0 → 1 → 0 of task 0's steps alone, which a tour
/// of only the tasks enabled everywhere prints, would keep task 1 enabled and idle.
#[test]
fn the_printed_cycle_is_fair() {
    let g = Graph::from_edges(
        states(3),
        vec![vec![step(1, 0), step(2, 1)], vec![step(0, 0), step(2, 1)], vec![step(0, 0)]],
    );
    let lasso = Lasso::find(&g, |_| true, no_good, |_| true).expect("a fair cycle");
    let text = lasso.render(&g, "fair");
    let cycle = text.split("then, forever:").nth(1).expect("a cycle");
    assert!(cycle.contains("task: 1"), "task 1 steps in the printed cycle: {text}");
}

/// The cycle must pass a witness state, and a state where no task can move is a fair
/// (stuttering) end of the run.
#[test]
fn witnesses_and_deadlocks() {
    let g = loop_with_exit(false);
    assert!(Lasso::find(&g, not_done, no_good, |s| s.crashes_left == 9).is_none());
    let dead = Graph::from_edges(states(2), vec![vec![step(1, 0)], vec![]]);
    let text =
        Lasso::find(&dead, |_| true, no_good, |_| true).expect("a deadlock").render(&dead, "x");
    assert!(text.contains("then no task can move, forever"), "{text}");
}

/// An environment action on a cycle breaks the fairness assumption, and is reported.
#[test]
fn an_environment_action_on_a_cycle_is_reported() {
    let crash = Edge { to: 0, action: Action::Crash { pid: 0 } };
    let g = Graph::from_edges(states(2), vec![vec![step(1, 0)], vec![crash]]);
    let all = g.components(|_| true, |_, _| true);
    assert!(g.environment_on_cycle(&all).is_some_and(|e| e.contains("Crash")));
    let real = Graph::explore(&SpecConfig::default().model());
    assert_eq!(real.environment_on_cycle(&real.components(|_| true, |_, _| true)), None);
}

/// INV-3's exception is needed, and no more: on the real protocol a queued waiter *can* stay
/// parked forever in a fair run, but only while the turn ahead of it starves in the
/// cross-process acquire (the cycle never leaves such states); without the exception the
/// check would report that cross-process starvation as an in-process failure.
#[test]
fn inv3_excepts_exactly_a_turn_starving_across_processes() {
    let m = SpecConfig::default().model();
    let g = Graph::explore(&m);
    let w = 0;
    let waiting = |s: &State| super::pc(s, w) == crate::state::Pc::Parked && super::alive(&m, s, w);
    let good = |s: &State, e: &Edge, to: &State| super::leaves_queue(s, e, to, w);
    let starving = Lasso::find(&g, waiting, good, |_| true).expect("the turn ahead starves");
    let text = starving.render(&g, "parked");
    let cycle = text.split("then, forever:").nth(1).expect("a cycle");
    assert!(cycle.contains("task: 1, op: Linkat"), "task 1 has the turn and contends: {text}");
    assert!(!cycle.contains("task: 1, op: BeginRelease"), "and never gets in: {text}");
    let elsewhere = |s: &State| !super::turn_in_cross_process_acquire(&m, s, w);
    assert!(Lasso::find(&g, waiting, good, elsewhere).is_none());
}
