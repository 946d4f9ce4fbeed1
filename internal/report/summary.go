package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Output is one step output.
type Output struct {
	Name, Value string
}

// MaxOutput is the largest step output GitHub Actions accepts (1 MB).
const MaxOutput = 1_000_000

// Outputs are the step outputs of a run, in the order of README's Outputs.
// reportFile is the path the JSON report was written to, or "": the
// report-file output is there only when a report was written. When limit
// is positive, deleted-tags keeps only the entries that fit in it, and
// Outputs says so in a warning.
func (r *Report) Outputs(reportFile string, limit int) ([]Output, string) {
	// Built as the tags come, never held as a list: a million deleted tags
	// in Actions make a 1 MB output, not a 40 MB list first. With a limit,
	// the entries that fit are those of a list cut at the first one that
	// would take it over the limit (counting its comma).
	var tags bytes.Buffer
	tags.WriteString("[")
	all, fit, cut := 0, 0, 1
	size, fits, over := 2, true, false
	_ = r.eachDeleted(func(t string) error {
		all++
		if over {
			return nil // counted, no longer written
		}
		b, _ := json.Marshal(t)
		if all > 1 {
			tags.WriteString(",")
		}
		tags.Write(b)
		if limit <= 0 {
			return nil
		}
		if fits = fits && size+len(b)+1 <= limit; fits {
			size += len(b) + 1
			fit, cut = all, tags.Len()
		}
		over = tags.Len()+1 > limit // the whole list no longer fits
		return nil
	})
	warning := ""
	if over {
		tags.Truncate(cut)
		warning = fmt.Sprintf("deleted-tags lists %d of %d tags: a step output holds at most %d bytes; the report-file has them all", fit, all, limit)
	}
	tags.WriteString("]")
	out := []Output{
		{"deleted-count", strconv.Itoa(r.Totals.Deleted)},
		{"kept-count", strconv.Itoa(r.Totals.Kept)},
		{"failed-count", strconv.Itoa(r.Totals.Failed)},
		{"deleted-tags", tags.String()},
		{"reclaimed-bytes", strconv.FormatInt(r.Totals.ReclaimedBytes, 10)},
		{"deleted-untagged-count", strconv.Itoa(r.Totals.DeletedUntagged)},
	}
	if reportFile != "" {
		out = append(out, Output{"report-file", reportFile})
	}
	return out, warning
}

// Count says "1 tag", "2 tags".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if stem, ok := strings.CutSuffix(noun, "y"); ok {
		return fmt.Sprintf("%d %sies", n, stem)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Bytes renders a byte count for people: "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
