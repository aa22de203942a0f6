package frontend

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"testing"
)

// stringKey finds the keys of a strings file: one `  key: …` (or
// `  "key-with-dashes": …`) a line, two spaces in.
var stringKey = regexp.MustCompile(`(?m)^  "?([A-Za-z_][\w-]*)"?:`)

// TestLanguageFilesHaveTheSameKeys: every language file of the console and
// of the widget has every key English has, and no other, so no screen
// falls back to English (or to a bare key) in another language.
func TestLanguageFilesHaveTheSameKeys(t *testing.T) {
	for _, dir := range []string{"console/i18n", "widget/i18n"} {
		files, err := fs.Glob(Files, dir+"/*.js")
		if err != nil || len(files) < 2 {
			t.Fatalf("%s: %d language files (%v); want at least 2", dir, len(files), err)
		}
		keys := func(name string) []string {
			b, err := fs.ReadFile(Files, name)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range stringKey.FindAllStringSubmatch(string(b), -1) {
				out = append(out, m[1])
			}
			slices.Sort(out)
			return out
		}
		en := keys(dir + "/en.js")
		if len(en) < 20 {
			t.Fatalf("%s/en.js: only %d keys found; the pattern no longer matches the file", dir, len(en))
		}
		for _, f := range files {
			got := keys(f)
			for _, k := range en {
				if !slices.Contains(got, k) {
					t.Errorf("%s lacks %q", path.Base(f), k)
				}
			}
			for _, k := range got {
				if !slices.Contains(en, k) {
					t.Errorf("%s has %q, which en.js does not", f, k)
				}
			}
			if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
				t.Errorf("%s defines a key twice", f)
			}
		}
	}
}
