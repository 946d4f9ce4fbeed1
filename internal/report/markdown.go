package report

import (
	"fmt"
	"strings"
)

// Summary renders the job summary in markdown: GitHub's job summary
// (GITHUB_STEP_SUMMARY) and summary-file. Every tag name is verbatim in a
// code span; text from registries is escaped for a table cell.
func (r *Report) Summary() string { return r.doc().markdown() }

// markdown renders d in markdown.
func (d doc) markdown() string {
	var b strings.Builder
	for _, bl := range d {
		switch bl := bl.(type) {
		case *heading:
			fmt.Fprintf(&b, "%s %s\n\n", strings.Repeat("#", bl.level), mdLine(bl.text))
		case *para:
			b.WriteString(mdLine(bl.text) + "\n\n")
		case *list:
			for _, it := range bl.items {
				b.WriteString("- " + mdLine(it) + "\n")
			}
			b.WriteString("\n")
		case *note:
			b.WriteString("> " + mdLine(bl.text) + "\n\n")
		case *table:
			mdTable(&b, bl)
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// mdTable writes t; a collapsed table is a <details> titled with its
// caption, and past the size budget only its caption is said.
func mdTable(b *strings.Builder, t *table) {
	caption := mdLine(t.caption)
	switch {
	case t.collapsed && b.Len() > maxSummary:
		fmt.Fprintf(b, "%s: see the JSON report.\n\n", caption)
		return
	case t.collapsed:
		fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", caption)
	case caption != "":
		b.WriteString(caption + ":\n\n")
	}
	var head, rule []string
	for _, c := range t.cols {
		head = append(head, c.title)
		if c.right {
			rule = append(rule, "---:")
		} else {
			rule = append(rule, "---")
		}
	}
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|" + strings.Join(rule, "|") + "|\n")
	left := t.omitted
	for i, rw := range t.rows {
		if b.Len() > maxSummary {
			left += len(t.rows) - i
			break
		}
		mdRow(b, rw.cells)
		for _, sub := range rw.sub {
			mdRow(b, sub)
		}
	}
	if left > 0 {
		mdMore(b, len(t.cols), left)
	}
	b.WriteString("\n")
	if t.collapsed {
		b.WriteString("</details>\n\n")
	}
}

// mdRow writes one table row; an empty cell is "| |".
func mdRow(b *strings.Builder, cells []span) {
	b.WriteString("|")
	for _, c := range cells {
		if s := mdSpan(c); s != "" {
			b.WriteString(" " + s + " |")
		} else {
			b.WriteString(" |")
		}
	}
	b.WriteString("\n")
}

// mdMore ends a table whose last n rows were left out.
func mdMore(b *strings.Builder, cols, n int) {
	cells := make([]span, cols)
	cells[0], cells[cols-1] = txt("…"), txt(moreRows(n))
	mdRow(b, cells)
}

func mdLine(l line) string { return joinLine(l, mdSpan) }

func mdSpan(s span) string {
	switch s.style {
	case stCode:
		return codeSpan(s.text)
	case stStrong:
		return "**" + cell(s.text) + "**"
	case stMarkup:
		return s.text
	}
	return cell(s.text)
}

// codeSpan puts s verbatim in a code span, with enough backticks to hold
// any backtick inside it.
func codeSpan(s string) string {
	if s == "" {
		return ""
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + codeEscape(s) + pad + fence
}

func codeEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// Renderings returns the forms s takes in the summary, escaped for a
// table cell and for a code span, so that a redactor finds a secret
// however the summary printed it.
func Renderings(s string) []string { return []string{cell(s), codeEscape(s)} }

// cell escapes text for a table cell or a list item: no line breaks, no
// pipes, no HTML.
func cell(s string) string { return cellEscaper.Replace(s) }

var cellEscaper = strings.NewReplacer("\r", " ", "\n", " ", "|", "\\|", "<", "&lt;", ">", "&gt;")
