package report

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextOptions shape the plain-text summary.
type TextOptions struct {
	// Width is the widest line, in columns. The default is 120.
	Width int
	// Redact replaces the secrets in a piece of text before it is laid
	// out: a secret cut by a line break, or shortened, would slip past a
	// redactor of the finished text. The default leaves text as it is.
	Redact func(string) string
}

// DefaultWidth is the width of the plain-text summary unless TextOptions
// say otherwise: what a CI log shows without a scroll bar.
const DefaultWidth = 120

// Text renders the job summary as plain text for a log (GitLab, Jenkins,
// a terminal): the same content as Summary, the totals first, tables as
// aligned columns, digests short (sha256:3f2a9c1b…), no HTML, no markdown
// escapes, no line wider than the width (prose wraps at words, a name too
// long for its column continues on the next line).
func (r *Report) Text(o TextOptions) string { return r.doc().text(o) }

// text renders d as plain text.
func (d doc) text(o TextOptions) string {
	t := textRenderer{width: o.Width, redact: o.Redact}
	if t.width <= 0 {
		t.width = DefaultWidth
	}
	if t.redact == nil {
		t.redact = func(s string) string { return s }
	}
	for _, bl := range d {
		switch bl := bl.(type) {
		case *heading:
			rule := "="
			if bl.level > 2 {
				rule = "-"
			}
			lines := wrap(t.line(bl.text), t.width)
			t.lines(lines...)
			t.lines(strings.Repeat(rule, widest(lines)))
			t.blank()
		case *para:
			t.lines(wrap(t.line(bl.text), t.width)...)
			t.blank()
		case *note:
			t.lines(wrap(t.line(bl.text), t.width)...)
			t.blank()
		case *list:
			for _, it := range bl.items {
				for i, l := range wrap(t.line(it), t.width-2) {
					if i == 0 {
						t.lines("- " + l)
					} else {
						t.lines("  " + l)
					}
				}
			}
			t.blank()
		case *table:
			t.table(bl)
		}
	}
	return strings.TrimRight(t.b.String(), "\n") + "\n"
}

// textRenderer writes a doc as text.
type textRenderer struct {
	b      strings.Builder
	width  int
	redact func(string) string
}

func (t *textRenderer) lines(ls ...string) {
	for _, l := range ls {
		t.b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
}

func (t *textRenderer) blank() { t.b.WriteString("\n") }

// line is the text of l: redacted, on one line, every style plain.
func (t *textRenderer) line(l line) string {
	return joinLine(l, func(s span) string { return t.clean(s.text) })
}

// clean redacts s and puts it on one line, control characters shown
// escaped (a registry's message must not move the cursor of a terminal).
func (t *textRenderer) clean(s string) string {
	s = t.redact(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// digests are what the text form shortens in tables: sha256:<hex>, and
// the digest inside a sha256-<hex> tag (a signature's, an attestation's).
var digests = regexp.MustCompile(`\b(sha256[:-])([0-9a-f]{8})[0-9a-f]{56}\b`)

// short shortens every digest in s to its first 8 hex digits and "…".
func short(s string) string { return digests.ReplaceAllString(s, "${1}${2}…") }

// Minimum widths of the columns that give way when a table is too wide.
const (
	minText = 24
	minName = 12
)

// table writes t as aligned columns: a caption, the header and a rule,
// then the rows (a cell that does not fit its column continues on the
// next lines). Prose and names give way when the table is wider than the
// page (fit).
func (t *textRenderer) table(tb *table) {
	caption := t.line(tb.caption)
	if tb.collapsed && t.b.Len() > maxSummary {
		t.lines(wrap(caption+": see the JSON report.", t.width)...)
		t.blank()
		return
	}
	if caption != "" {
		t.lines(wrap(caption+":", t.width)...)
	}
	cells := func(cs []span) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = short(t.clean(c.text))
		}
		return out
	}
	var rows [][]string
	left := tb.omitted
	size := t.b.Len()
	for i, rw := range tb.rows {
		if size > maxSummary {
			left += len(tb.rows) - i
			break
		}
		for _, cs := range append([][]span{rw.cells}, rw.sub...) {
			r := cells(cs)
			rows = append(rows, r)
			for _, c := range r {
				size += len(c) + 2
			}
		}
	}
	widths := make([]int, len(tb.cols))
	for i, c := range tb.cols {
		widths[i] = utf8.RuneCountInString(c.title)
		for _, r := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	t.fit(tb.cols, widths)
	head, rule := make([]string, len(tb.cols)), make([]string, len(tb.cols))
	for i, c := range tb.cols {
		head[i], rule[i] = c.title, strings.Repeat("-", min(widths[i], utf8.RuneCountInString(c.title)))
	}
	t.row(tb.cols, widths, head)
	t.row(tb.cols, widths, rule)
	for _, r := range rows {
		t.row(tb.cols, widths, r)
	}
	if left > 0 {
		t.lines("… " + moreRows(left))
	}
	t.blank()
}

// fit narrows the columns that give way (prose down to minText, names
// down to minName), the widest first, until the table fits the page.
func (t *textRenderer) fit(cols []column, widths []int) {
	total := 2 * (len(cols) - 1)
	for _, w := range widths {
		total += w
	}
	for total > t.width {
		at := -1
		for i, c := range cols {
			floor := map[colKind]int{colText: minText, colName: minName}[c.kind]
			if floor > 0 && widths[i] > floor && (at < 0 || widths[i] > widths[at]) {
				at = i
			}
		}
		if at < 0 {
			return
		}
		widths[at]--
		total--
	}
}

// row writes one table row; a cell wider than its column continues on
// the next lines, the other columns left blank there.
func (t *textRenderer) row(cols []column, widths []int, cells []string) {
	parts := make([][]string, len(cols))
	height := 1
	for i, c := range cols {
		switch c.kind {
		case colText:
			parts[i] = wrap(cells[i], widths[i])
		case colName:
			parts[i] = chunks(cells[i], widths[i])
		default:
			parts[i] = []string{cells[i]}
		}
		height = max(height, len(parts[i]))
	}
	for n := range height {
		var b strings.Builder
		for i, c := range cols {
			s := ""
			if n < len(parts[i]) {
				s = parts[i][n]
			}
			pad := strings.Repeat(" ", max(0, widths[i]-utf8.RuneCountInString(s)))
			if i > 0 {
				b.WriteString("  ")
			}
			if c.right {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		t.lines(b.String())
	}
}

// wrap breaks s into lines of at most width columns at spaces; a word
// wider than a line is cut into pieces.
func wrap(s string, width int) []string {
	var out []string
	cur, n := "", 0
	for _, word := range strings.Fields(s) {
		for _, piece := range chunks(word, width) {
			w := utf8.RuneCountInString(piece)
			switch {
			case n == 0:
				cur, n = piece, w
			case n+1+w <= width:
				cur, n = cur+" "+piece, n+1+w
			default:
				out = append(out, cur)
				cur, n = piece, w
			}
		}
	}
	if n > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// chunks cuts s into pieces of at most width columns.
func chunks(s string, width int) []string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	var out []string
	rs := []rune(s)
	for len(rs) > width {
		out = append(out, string(rs[:width]))
		rs = rs[width:]
	}
	return append(out, string(rs))
}

// widest is the width of the widest of ls.
func widest(ls []string) int {
	w := 0
	for _, l := range ls {
		w = max(w, utf8.RuneCountInString(l))
	}
	return w
}
