package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tagsweep/tagsweep/internal/config"
)

// command is a sub-command, for the inputs it takes.
type command int

const (
	cmdSweep command = iota
	cmdList
	cmdRestore
)

// name is how the user calls the command.
func (c command) name() string {
	switch c {
	case cmdList:
		return "tagsweep ls"
	case cmdRestore:
		return "tagsweep restore"
	}
	return "tagsweep"
}

// flagSet declares a command's flags: the inputs it reads (config.Inputs,
// Sweep, List or Restore) recording into set, then its own options (extra).
func flagSet(cmd command, set map[string]string, extra func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, in := range config.Inputs {
		if takes(in, cmd) {
			fs.Var(&stringFlag{name: in.Name, set: set, isBool: in.Bool}, in.Name, in.Description)
		}
	}
	if extra != nil {
		extra(fs)
	}
	return fs
}

// takes reports whether cmd reads the input.
func takes(in config.Input, cmd command) bool {
	switch cmd {
	case cmdList:
		return in.List
	case cmdRestore:
		return in.Restore
	}
	return in.Sweep
}

// usage prints the help of cmd: what it does, and the inputs and options
// it takes, from the same flag set it parses.
func usage(w io.Writer, cmd command, extra func(*flag.FlagSet)) {
	switch cmd {
	case cmdList:
		fmt.Fprint(w, `tagsweep ls: list repositories and tags (digest, media type, created, size); it deletes nothing

Usage:
  tagsweep ls [--input value ...] [--format text|json]

`)
	case cmdRestore:
		fmt.Fprint(w, `tagsweep restore: put back what a sweep deleted, from the undo file it wrote (undo-file)

Usage:
  tagsweep restore --undo-file PATH [--only repo:tag,...] [--dry-run] [--input value ...]

Give it the registry and credentials the sweep had (credentials that may push).
Manifests go back first (children, then indexes, then referrers), each checked
by digest, then the tags; a tag that points elsewhere now is left alone, and a
manifest whose layers the registry's garbage collector removed is reported and
not written. --dry-run says what it would restore and writes nothing. Exit 0
when all that was asked for is back, 1 otherwise, 2 for invalid input.

`)
	default:
		fmt.Fprint(w, `tagsweep: retention policies for container registries

Usage:
  tagsweep [--input value ...]       apply the retention policy
  tagsweep ls [--input value ...]    list repositories and tags (tagsweep ls --help)
  tagsweep restore --undo-file PATH  put back what a run deleted (tagsweep restore --help)
  tagsweep version                   print the version

Without --dry-run the run DELETES the tags the policy selects. Run with
--dry-run first: it plans and reports the same deletions and deletes nothing.

`)
	}
	fmt.Fprintln(w, "Inputs, each read from --NAME, then TAGSWEEP_NAME, then INPUT_NAME:")
	for _, in := range config.Inputs {
		if takes(in, cmd) {
			printFlag(w, in.Name, in.Description, in.Default)
		}
	}
	fs := flagSet(cmd, map[string]string{}, extra)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*stringFlag); ok {
			return
		}
		if first {
			fmt.Fprintln(w, "\nOptions (flags only):")
			first = false
		}
		printFlag(w, f.Name, f.Usage, f.DefValue)
	})
}

func printFlag(w io.Writer, name, desc, def string) {
	if def != "" {
		desc += " (default " + def + ")"
	}
	fmt.Fprintf(w, "  --%-15s %s\n", name, desc)
}

// flagName is the name in a flag argument: "--dry-run=x" and "-dry-run"
// name "dry-run"; a word that is no flag names "".
func flagName(a string) string {
	if !strings.HasPrefix(a, "-") {
		return ""
	}
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, _ = strings.Cut(name, "=")
	return name
}

// checkFlags finds the flags args names that the command does not take,
// before parsing (the flag package says only "flag provided but not
// defined"), and says which known flag was meant: the closest name, or the
// command that takes it. A flag that needs a value and has none is named
// too.
func checkFlags(fs *flag.FlagSet, args []string, cmd command) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		name := flagName(a)
		if name == "" || strings.HasPrefix(name, "-") || name == "h" || name == "help" {
			continue // a word, or syntax the flag package reports
		}
		f := fs.Lookup(name)
		if f == nil {
			return unknownFlag(fs, name, cmd)
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); (ok && bf.IsBoolFlag()) || strings.Contains(a, "=") {
			continue
		}
		if i+1 >= len(args) {
			return fmt.Errorf("--%s needs a value (--%s VALUE or --%s=VALUE)", name, name, name)
		}
		i++ // its value, which may start with "-"
	}
	return nil
}

// unknownFlag explains a flag the command does not take.
func unknownFlag(fs *flag.FlagSet, name string, cmd command) error {
	for _, in := range config.Inputs {
		if in.Name == name {
			switch cmd {
			case cmdList:
				return fmt.Errorf("unknown flag --%s: tagsweep ls does not take it (it is an input of the sweep, tagsweep without a sub-command)", name)
			case cmdRestore:
				return fmt.Errorf("unknown flag --%s: tagsweep restore does not take it (the undo file says what to restore; --only picks a part)", name)
			}
			return fmt.Errorf("unknown flag --%s: the sweep does not take it (it is an input of tagsweep ls)", name)
		}
	}
	switch {
	case cmd != cmdList && name == lsFormat:
		return fmt.Errorf("unknown flag --%s: it is an option of tagsweep ls", name)
	case cmd != cmdRestore && name == restoreOnly:
		return fmt.Errorf("unknown flag --%s: it is an option of tagsweep restore", name)
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := closest(name, names); s != "" {
		return fmt.Errorf("unknown flag --%s; did you mean --%s? (%s --help lists them)", name, s, cmd.name())
	}
	return fmt.Errorf("unknown flag --%s (%s --help lists the flags)", name, cmd.name())
}

// closest is the known name nearest to name: within an edit distance of
// 2 (case ignored), or one that name begins (--exclude: --exclude-tags).
// "" when none is near.
func closest(name string, known []string) string {
	best, bestD := "", 1<<30
	n := strings.ToLower(name)
	for _, k := range known {
		d := distance(n, k)
		if d > 2 && !(len(n) >= 3 && strings.HasPrefix(k, n)) {
			continue
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
