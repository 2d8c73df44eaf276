"""gofix_conc.concurrency: joins and happens-before on small functions."""

from __future__ import annotations

import textwrap

from tree_sitter import Node

from gofix_conc import concurrency, scopes
from gofix_conc.source import captures, parse


def tree(body: str) -> Node:
    scopes.forget()
    return parse(("package p\n\n" + textwrap.dedent(body)).encode()).root_node


def increments(root: Node, name: str) -> list[Node]:
    return [n for n in captures("(inc_statement) @s", root).get("s", []) if n.text == f"{name}++".encode()]


def go_statements(root: Node) -> list[Node]:
    return captures("(go_statement) @g", root).get("g", [])


def returns(root: Node) -> list[Node]:
    return captures("(return_statement) @r", root).get("r", [])


def test_a_join_in_the_same_iteration_orders_the_goroutines_of_a_loop() -> None:
    root = tree(
        """\
        func f(xs []int) int {
        \tn := 0
        \tfor range xs {
        \t\tdone := make(chan struct{})
        \t\tgo func() { defer close(done); n++ }()
        \t\t<-done
        \t}
        \treturn n
        }
        """
    )
    go = go_statements(root)[0]
    loop = captures("(for_statement) @f", root)["f"][0]
    assert concurrency.joined_each_iteration(go, loop)
    assert not concurrency.runs_concurrently(returns(root)[0], go)


def test_a_join_after_the_loop_does_not_order_its_goroutines() -> None:
    root = tree(
        """\
        func f(xs []int) int {
        \tn := 0
        \tvar wg sync.WaitGroup
        \tfor range xs {
        \t\twg.Add(1)
        \t\tgo func() { defer wg.Done(); n++ }()
        \t}
        \twg.Wait()
        \treturn n
        }
        """
    )
    go = go_statements(root)[0]
    loop = captures("(for_statement) @f", root)["f"][0]
    assert not concurrency.joined_each_iteration(go, loop)
    assert not concurrency.runs_concurrently(returns(root)[0], go)


def test_goroutines_separated_by_a_wait_do_not_overlap() -> None:
    root = tree(
        """\
        func f() {
        \tgo func() { a() }()
        \tgo func() { b() }()
        \tsynctest.Wait()
        \tgo func() { c() }()
        }
        """
    )
    first, second, third = go_statements(root)
    assert concurrency.overlap(first, second)
    assert not concurrency.overlap(first, third)
    assert not concurrency.overlap(third, second)


def test_code_after_a_synctest_bubble_is_ordered_after_its_goroutines() -> None:
    root = tree(
        """\
        func f(t *testing.T) int {
        \tn := 0
        \tsynctest.Test(t, func(t *testing.T) {
        \t\tgo func() { n++ }()
        \t})
        \treturn n
        }
        """
    )
    assert not concurrency.runs_concurrently(returns(root)[0], go_statements(root)[0])


def test_callbacks_that_run_once() -> None:
    root = tree(
        """\
        func f(once *sync.Once, mux *http.ServeMux) {
        \tonce.Do(func() {})
        \ttime.AfterFunc(time.Second, func() {})
        \tfunc() {}()
        \tmux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
        }
        """
    )
    literals = captures("(func_literal) @f", root)["f"]
    assert [concurrency.runs_at_most_once(f) for f in literals] == [True, True, True, False]


def test_a_token_passed_around_a_ring_is_held_one_goroutine_at_a_time() -> None:
    root = tree(
        """\
        func f(n int) int {
        \ti := 0
        \tturn := make([]chan bool, n)
        \tfor g := range n {
        \t\tgo func() {
        \t\t\tfor {
        \t\t\t\t<-turn[g]
        \t\t\t\tnext := turn[(g+1)%n]
        \t\t\t\ti++
        \t\t\t\tnext <- true
        \t\t\t}
        \t\t}()
        \t}
        \tturn[0] <- true
        \treturn i
        }
        """
    )
    assert concurrency.holds_token(increments(root, "i")[0])


def test_a_closed_start_channel_is_no_token() -> None:
    root = tree(
        """\
        func f(n int) int {
        \ti := 0
        \tstart, done := make(chan struct{}), make(chan struct{})
        \tfor range n {
        \t\tgo func() {
        \t\t\t<-start
        \t\t\ti++
        \t\t\tdone <- struct{}{}
        \t\t}()
        \t}
        \tclose(start)
        \treturn i
        }
        """
    )
    assert not concurrency.holds_token(increments(root, "i")[0])


def test_tokens_put_in_by_a_loop_are_no_token() -> None:
    root = tree(
        """\
        func f(n int) int {
        \ti := 0
        \tturn := make(chan bool, n)
        \tfor range n {
        \t\tgo func() {
        \t\t\t<-turn
        \t\t\ti++
        \t\t\tturn <- true
        \t\t}()
        \t\tturn <- true
        \t}
        \treturn i
        }
        """
    )
    assert not concurrency.holds_token(increments(root, "i")[0])


def test_held_locks_names_the_mutexes_held_at_a_statement() -> None:
    root = tree(
        """\
        func f(s *S, m map[string]int) {
        \ts.mu.Lock()
        \tdefer s.mu.Unlock()
        \tmu.Lock()
        \tm["a"]++
        \tmu.Unlock()
        \tm["b"]++
        }
        """
    )
    function = captures("(function_declaration) @f", root)["f"][0]
    first, second = captures("(inc_statement) @s", root)["s"]
    assert concurrency.held_locks(first, function) == {"s.mu", "mu"}
    assert concurrency.held_locks(second, function) == {"s.mu"}
    assert concurrency.holds_lock(second, function)


def test_a_use_earlier_in_the_loop_meets_the_previous_iterations_goroutine() -> None:
    root = tree(
        """\
        func f(xs []int, m map[int]int) {
        \tvar wg sync.WaitGroup
        \tfor _, x := range xs {
        \t\t_ = m[x]
        \t\twg.Add(1)
        \t\tgo func() { defer wg.Done(); m[x] = x }()
        \t}
        \twg.Wait()
        \t_ = len(m)
        }
        """
    )
    go = go_statements(root)[0]
    in_loop, _, after = captures("(assignment_statement) @a", root)["a"]
    assert concurrency.runs_alongside(in_loop, go)
    assert not concurrency.runs_alongside(after, go)


def test_goroutine_of_and_race_reason_name_the_loop() -> None:
    root = tree(
        """\
        func f(xs []int) {
        \tm := map[int]int{}
        \tfor _, x := range xs {
        \t\tgo func() { m[x] = x }()
        \t}
        }
        """
    )
    write = captures("(assignment_statement) @a", root)["a"][0]
    decl = scopes.resolve(captures("(short_var_declaration left: (expression_list (identifier) @m))", root)["m"][0])
    goroutine = concurrency.goroutine_of(write, decl, "write")
    assert goroutine is not None
    assert (
        concurrency.race_reason(write, goroutine, [], shared=False) == "goroutines started in a loop write it at once"
    )
