package app_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/kefu-chat/kefu"

// TestImportsPointOneWay checks the layering with go list: the domain at the
// centre knows no framework, the dispatcher no network or SQL, and only the
// wiring names concrete implementations.
func TestImportsPointOneWay(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps,Standard", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
			Standard   bool
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, module) {
			deps[p.ImportPath] = p.Deps
		}
	}
	forbidden := func(prefixes ...string) []string { return prefixes }
	frameworks := forbidden("github.com/gofiber/", "github.com/fasthttp/", "github.com/valyala/fasthttp")
	sql := forbidden("gorm.io/", "github.com/mattn/go-sqlite3", "github.com/jackc/")
	ours := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, module+"/"+n)
		}
		return out
	}
	rules := []struct {
		pkg     string // exact, or a prefix ending in "/"
		mustNot []string
	}{
		{"config", append(forbidden("github.com/", "gorm.io/", "golang.org/"), ours("models")...)},
		{"auth", append(append(frameworks, sql...), ours("handlers", "routing", "realtime", "chat", "internal/app")...)},
		{"models", append(append(frameworks, sql...), ours("handlers", "routing", "realtime", "chat", "internal/app")...)},
		{"models/wire", append(append(frameworks, sql...), ours("handlers", "routing", "realtime", "chat")...)},
		{"routing", append(append(frameworks, sql...), ours("handlers", "realtime", "chat", "models/sqlstore", "models/wire", "internal/app")...)},
		{"realtime", append(append(forbidden("github.com/gofiber/"), sql...), ours("handlers", "routing", "chat", "internal/app")...)},
		{"chat", append(append(frameworks, sql...), ours("handlers", "realtime", "models/sqlstore", "internal/app")...)},
		{"handlers", append(sql, ours("models/sqlstore", "models/memstore", "internal/app", "realtime/redisbus", "realtime/natsbus", "internal/ratelimit/redislimit")...)},
	}
	for _, r := range rules {
		path := module + "/" + r.pkg
		d, ok := deps[path]
		if !ok {
			t.Errorf("package %s not found", path)
			continue
		}
		for _, dep := range d {
			for _, bad := range r.mustNot {
				if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) || (bad == "github.com/valyala/fasthttp" && strings.HasPrefix(dep, bad)) {
					t.Errorf("%s imports %s, which it must not", r.pkg, dep)
				}
			}
		}
	}
	// Nobody but the wiring and the binary imports handlers or the wiring.
	for pkg, d := range deps {
		for _, dep := range d {
			if (dep == module+"/handlers" || dep == module+"/internal/app") &&
				!strings.HasPrefix(pkg, module+"/cmd/") && pkg != module+"/internal/app" && pkg != module+"/internal/apptest" {
				t.Errorf("%s imports %s", strings.TrimPrefix(pkg, module+"/"), strings.TrimPrefix(dep, module+"/"))
			}
		}
	}
}
