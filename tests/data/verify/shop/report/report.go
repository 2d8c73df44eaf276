package report

import (
	"fmt"
	"io"
)

// Write prints one line per row.
func Write(w io.Writer, rows map[string]int) {
	for name, count := range rows {
		// TODO(verify): fmt.Fprintf(w, "%s: %d\n", count, name)
		fmt.Fprintf(w, "%s: %d\n", name, count)
	}
}

// Total sums the rows.
func Total(rows map[string]int) int {
	total := 0
	for _, count := range rows {
		// TODO(verify): total  +=  0
		total += count
	}
	return total
}

// Check is left alone: a plain statement after the marker.
func Check(rows map[string]int) bool {
	// TODO(verify): _ = len(rows)
	return len(rows) > 0
}
