package schemas

import (
	"bytes"
	"io/fs"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestFilesCompile compiles every embedded file on its own with format
// assertion on; package events tests that each one belongs to an event type.
func TestFilesCompile(t *testing.T) {
	files, err := fs.Glob(FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("got %d schema files %q, want 6", len(files), files)
	}
	for _, f := range files {
		b, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		m, _ := doc.(map[string]any)
		if m["$id"] != BaseURL+f {
			t.Errorf("%s: $id = %v, want %s", f, m["$id"], BaseURL+f)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(BaseURL+f, doc); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Compile(BaseURL + f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
