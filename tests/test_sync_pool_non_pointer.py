"""sync-pool-non-pointer: the pointer form ends the allocation per Put.

The fixtures' companion tests run under ``go test -race``, where a
``sync.Pool`` drops a quarter of what is put and ``New`` allocates in its
place, so allocation counts are measured here, without the race detector,
against the input (an allocation per ``Put``) and the unsafe golden (none).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gotool
import pytest
from conftest import FIXTURES

from gofix_conc.engine import Settings, Status, process

CASES = FIXTURES / "sync-pool-non-pointer"
PUT_CASES = ("slice_pool.go", "struct_values.go", "copy_buffer.go")

ALLOCS_TEST = """\
package pools

import (
	"bytes"
	"io"
	"testing"
)

var (
	sink    int
	payload = []byte("0123456789")
	src     = bytes.NewReader(nil)
)

func measure(t *testing.T, name string, f func()) {
	f() // the pool's first object comes from New
	if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
		t.Errorf("%s: %v allocations per call, want 0 (the Put boxes a non-pointer)", name, allocs)
	}
}

func TestPutDoesNotAllocate(t *testing.T) {
	measure(t, "Emit", func() { Emit(12345, func(b []byte) { sink += len(b) }) })
	measure(t, "Trace", func() { sink += Trace("GET", "a", "b") })
	measure(t, "Frame", func() { sink += int(Frame(7)) })
	measure(t, "CopyPooled", func() {
		src.Reset(payload)
		n, _ := CopyPooled(io.Discard, src)
		sink += int(n)
	})
}
"""


def _run(tmp_path: Path, go_cache: Path, files: dict[str, bytes]) -> tuple[bool, str]:
    shutil.copy(CASES / "go.mod", tmp_path / "go.mod")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "allocs_test.go").write_text(ALLOCS_TEST)
    done = gotool.run([gotool.go(), "test", "-count=1", "-run", "TestPutDoesNotAllocate", "."], tmp_path, go_cache)
    return done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("variant", ["input", "unsafe golden"])
def test_allocations_per_put(variant: str, tmp_path: Path, go_cache: Path) -> None:
    suffix = "" if variant == "input" else ".unsafe.golden"
    files = {name: (CASES / (name + suffix)).read_bytes() for name in PUT_CASES}
    ok, output = _run(tmp_path, go_cache, files)
    if variant == "input":
        assert not ok, "the input's Puts should allocate"
        assert "allocations per call" in output, output
    else:
        assert ok, output


LOCK_VALUES = """\
package pools

import (
	"sync"
	"sync/atomic"
)

type inner struct{ mu sync.RWMutex }

type stats struct {
	hits atomic.Int64
	in   [2]inner
	n    int
}

var statsPool = sync.Pool{New: func() any { return stats{} }}

func count() int {
	s := statsPool.Get().(stats)
	s.n++
	n := s.n
	statsPool.Put(s)
	return n
}
"""


def test_no_pointer_form_for_a_value_holding_a_lock(tmp_path: Path) -> None:
    # Not a fixture: the input itself fails go vet (copylocks), which fixtures must pass.
    # The pointer form would add x := *xp and *xp = x: two more copies of the lock.
    path = tmp_path / "locks.go"
    path.write_text(LOCK_VALUES)
    shutil.copy(CASES / "go.mod", tmp_path / "go.mod")
    result = process(path, Settings(rules=("sync-pool-non-pointer",), fix=True, unsafe_fixes=True))
    assert result.error is None, result.error
    assert result.status is not Status.CHANGED
    assert [f.message for f in result.findings] == [
        "statsPool.Put of a stats value, not a pointer: every Put allocates to box it in an interface"
        " (no fix: a stats holds a sync or atomic value: copying it out of the pointer copies a lock)"
    ]
