// Package frontend holds what people see of Kefu, embedded in the binary so
// that nothing is fetched from a third-party host at run time and no build
// step is needed: the demo shop page (/), the shopper widget (/widget.js and
// its language files under /widget/), and the agent console with its admin
// page (/console/). The files are plain ES2020 with no framework.
//
// Files is read-only and safe for concurrent use; handlers serve it at the
// site root, a directory answering with its index.html.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files is the site, rooted at static/: "index.html", "widget.js",
// "console/index.html" and so on.
var Files fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, which is a constant here.
		panic(err)
	}
	return sub
}
