package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

const statusToken = "admin-token-for-the-status-test"

// clusterJSON is what GET /api/admin/cluster serves (design of issue 12):
// 8 partitions over a, b and c, partition 7 without an owner in unowned.
const clusterJSON = `{"partitions":8,"instances":[
 {"id":"b","url":"http://127.0.0.1:8082","owned":[1,4,5],"lag":{"1":0,"4":2,"5":10},"seen":"2026-12-02T12:00:01Z"},
 {"id":"a","url":"http://127.0.0.1:8081","owned":[3,0,6],"lag":{"0":0,"3":12,"6":0},"seen":"2026-12-02T12:00:00Z"},
 {"id":"c","url":"http://127.0.0.1:8083","owned":[2,7],"lag":{},"seen":"2026-12-02T12:00:02Z"}],
 "owners":["a","b","c","a","b","b","a","c"]}`

func statusServer(t *testing.T, code int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/admin/cluster" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+statusToken {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStatusPrintsOwnership: `signoff status --url` prints one row per
// instance, sorted by id, with its partitions (as ranges), their count and
// the sum of its lag, and exits 0 when every partition has an owner.
func TestStatusPrintsOwnership(t *testing.T) {
	srv := statusServer(t, 200, clusterJSON)
	t.Setenv("SIGNOFF_ADMIN_TOKEN", statusToken)
	var out, errb bytes.Buffer
	code := run([]string{"status", "--url", srv.URL + "/"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^INSTANCE\s+URL\s+OWNED\s+PARTITIONS\s+LAG\s+SEEN$`),
		regexp.MustCompile(`^a\s+http://127\.0\.0\.1:8081\s+3\s+0,3,6\s+12\s+2026-12-02T12:00:00Z$`),
		regexp.MustCompile(`^b\s+http://127\.0\.0\.1:8082\s+3\s+1,4-5\s+12\s+2026-12-02T12:00:01Z$`),
		regexp.MustCompile(`^c\s+http://127\.0\.0\.1:8083\s+2\s+2,7\s+0\s+2026-12-02T12:00:02Z$`),
		regexp.MustCompile(`^8 partitions, 3 instances, 0 partitions without an owner$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}
	// The token also comes from --token.
	t.Setenv("SIGNOFF_ADMIN_TOKEN", "")
	out.Reset()
	if code := run([]string{"status", "--url", srv.URL, "--token", statusToken}, &out, &errb); code != 0 || !strings.Contains(out.String(), "8 partitions") {
		t.Errorf("--token: exit %d, stdout %q", code, out.String())
	}
}

// TestStatusErrors: every way the answer can be wrong gives a message that
// says what to do and a non-zero exit; a partition without an owner is
// exit 3 with the table still printed.
func TestStatusErrors(t *testing.T) {
	unowned := strings.Replace(clusterJSON, `"owners":["a","b","c","a","b","b","a","c"]`, `"owners":["a","b","","a","b","b","a",""]`, 1)
	for _, tc := range []struct {
		name     string
		code     int
		body     string
		token    string
		args     []string
		exit     int
		stdout   string
		stderrRE string
	}{
		{"wrong token", 200, clusterJSON, "wrong", nil, 1, "", `401 Unauthorized: wrong admin token.*bad token`},
		{"not clustered", 404, "not clustered\n", statusToken, nil, 1, "", `404 Not Found: that signoff is not clustered \(cluster\.enabled\).*: not clustered$`},
		{"server error", 500, "boom", statusToken, nil, 1, "", `500 Internal Server Error: boom`},
		{"garbage", 200, "<html>hello</html>", statusToken, nil, 1, "", `not a cluster status: invalid character '<'`},
		{"wrong shape", 200, `{"partitions":"many"}`, statusToken, nil, 1, "", `not a cluster status: json: cannot unmarshal string`},
		{"no partitions", 200, `{"partitions":0,"instances":[],"owners":[]}`, statusToken, nil, 1, "", `not a cluster status: partitions 0`},
		{"owners mismatch", 200, `{"partitions":4,"instances":[],"owners":["a"]}`, statusToken, nil, 1, "", `not a cluster status: 1 owners for 4 partitions`},
		{"owned out of range", 200, `{"partitions":2,"instances":[{"id":"a","owned":[0,5]}],"owners":["a","a"]}`, statusToken, nil, 1, "", `instance "a" owns partition 5 of 2`},
		{"unowned partitions", 200, unowned, statusToken, nil, 3, "8 partitions, 3 instances, 2 partitions without an owner", `partitions without an owner: 2,7`},
		{"no token", 200, clusterJSON, "", nil, 2, "", `needs the admin token in \$SIGNOFF_ADMIN_TOKEN or --token`},
		{"no url", 200, clusterJSON, statusToken, []string{"status"}, 2, "", `--url is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := statusServer(t, tc.code, tc.body)
			t.Setenv("SIGNOFF_ADMIN_TOKEN", tc.token)
			args := tc.args
			if args == nil {
				args = []string{"status", "--url", srv.URL}
			}
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != tc.exit {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.exit, errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) || (tc.stdout == "" && out.Len() > 0) {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if re := regexp.MustCompile(`(?m)` + tc.stderrRE); !re.MatchString(strings.TrimSpace(errb.String())) {
				t.Errorf("stderr %q does not match %s", errb.String(), tc.stderrRE)
			}
		})
	}
	// Nothing listening: the connection error names the URL.
	srv := statusServer(t, 200, clusterJSON)
	srv.Close()
	t.Setenv("SIGNOFF_ADMIN_TOKEN", statusToken)
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--url", srv.URL, "--timeout", "5s"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), srv.URL+"/api/admin/cluster") {
		t.Errorf("no server: exit %d, stderr %q", code, errb.String())
	}
}
