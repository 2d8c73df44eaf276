"""leaky-result-channel: the unsafe fix for senders started in a loop stops the leak.

test_fixtures.py runs a companion against a case's input and its safe golden;
a buffer of the loop's length is an unsafe fix, so this runs the behaviour
test against the input (it must fail: senders are left blocked) and against
the unsafe golden (it must pass).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import gobatch
from conftest import FIXTURES

CASE = FIXTURES / "leaky-result-channel" / "replicas.go"

BEHAVIOUR = textwrap.dedent(
    """\
    package leakyresult

    import (
    \t"errors"
    \t"runtime"
    \t"testing"
    \t"time"
    )

    type slow time.Duration

    func (s slow) Query(q string) string {
    \ttime.Sleep(time.Duration(s))
    \treturn q
    }

    func blocked(base int) int {
    \tn := runtime.NumGoroutine()
    \tfor i := 0; i < 100 && n > base; i++ {
    \t\ttime.Sleep(10 * time.Millisecond)
    \t\tn = runtime.NumGoroutine()
    \t}
    \treturn n - base
    }

    func TestFirstLeavesNoSender(t *testing.T) {
    \tbase := runtime.NumGoroutine()
    \treplicas := []Replica{slow(0), slow(5 * time.Millisecond), slow(10 * time.Millisecond)}
    \tif got := First(replicas, "q"); got != "q" {
    \t\tt.Fatalf("First = %q", got)
    \t}
    \tif n := blocked(base); n > 0 {
    \t\tt.Fatalf("%d replica goroutines left blocked after First returned", n)
    \t}
    }

    func TestCheckAllLeavesNoSender(t *testing.T) {
    \tbase := runtime.NumGoroutine()
    \terr := CheckAll(4, func(i int) error {
    \t\ttime.Sleep(time.Duration(i) * time.Millisecond)
    \t\treturn errors.New("failed")
    \t})
    \tif err == nil {
    \t\tt.Fatal("CheckAll missed the error")
    \t}
    \tif n := blocked(base); n > 0 {
    \t\tt.Fatalf("%d checks left blocked after CheckAll returned the first error", n)
    \t}
    }
    """
).encode()


def test_buffer_of_the_loop_length_frees_every_sender(tmp_path: Path, go_cache: Path) -> None:
    golden = CASE.with_name(CASE.name + ".unsafe.golden")
    batch = gobatch.Batch()
    gomod = CASE.parent / "go.mod"
    before = batch.add(gomod, {CASE.name: CASE.read_bytes(), "replicas_test.go": BEHAVIOUR}, True)
    after = batch.add(gomod, {CASE.name: golden.read_bytes(), "replicas_test.go": BEHAVIOUR}, True)
    outcomes = batch.run(tmp_path, go_cache)
    assert outcomes[before].vet_ok and outcomes[after].vet_ok, outcomes[before].vet_output + outcomes[after].vet_output
    assert outcomes[before].test_ok is False, f"the input leaks no sender:\n{outcomes[before].test_output}"
    assert outcomes[after].test_ok, f"the unsafe golden still leaks:\n{outcomes[after].test_output}"
