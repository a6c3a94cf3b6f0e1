package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type statusOptions struct {
	remote, token *string
	timeout       *time.Duration
}

var statusCommand = &command{
	name:     "status",
	synopsis: "--url URL [--token T] [--timeout 10s]",
	summary:  "print which instance owns which partitions of a cluster, and their lag (exit 3: a partition has no owner)",
	flags: func(fs *flag.FlagSet) any {
		return statusOptions{
			remote:  fs.String("url", "", "public `URL` of any instance of the cluster (its admin API; token from $SIGNOFF_ADMIN_TOKEN or --token)"),
			token:   fs.String("token", "", "admin bearer `token` (prefer $SIGNOFF_ADMIN_TOKEN: flags are visible to other users)"),
			timeout: fs.Duration("timeout", 10*time.Second, "how long to wait for the answer"),
		}
	},
	run: func(ctx context.Context, opts any, stdout, stderr io.Writer) int {
		return statusCmd(ctx, opts.(statusOptions), stdout, stderr)
	},
}

// clusterStatus is the answer of GET /api/admin/cluster: the partition
// count, every live instance with the partitions it owns and its lag per
// partition (events of the stream not yet applied), and the owner of each
// partition ("" when none holds its lease).
type clusterStatus struct {
	Partitions int               `json:"partitions"`
	Instances  []clusterInstance `json:"instances"`
	Owners     []string          `json:"owners"`
}

type clusterInstance struct {
	ID    string            `json:"id"`
	URL   string            `json:"url"`
	Owned []int             `json:"owned"`
	Lag   map[string]uint64 `json:"lag"`
	Seen  string            `json:"seen"`
}

// errUnowned: the cluster answered, but a partition has no owner.
var errUnowned = errors.New("partitions without an owner")

// statusCmd prints the cluster's ownership table. Exit status: 0 every
// partition owned, 3 some partition has no owner, 1 error, 2 usage.
func statusCmd(ctx context.Context, o statusOptions, stdout, stderr io.Writer) int {
	if *o.remote == "" {
		fmt.Fprintln(stderr, "signoff status: --url is required (the public URL of any instance)")
		return exitUsage
	}
	tok := *o.token
	if tok == "" {
		tok = os.Getenv("SIGNOFF_ADMIN_TOKEN")
	}
	if tok == "" {
		fmt.Fprintln(stderr, "signoff status: needs the admin token in $SIGNOFF_ADMIN_TOKEN or --token")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *o.timeout)
	defer cancel()
	st, err := fetchClusterStatus(ctx, http.DefaultClient, *o.remote, tok)
	if err != nil {
		fmt.Fprintf(stderr, "signoff status: %v\n", err)
		return exitError
	}
	if err := printClusterStatus(stdout, st); err != nil {
		fmt.Fprintf(stderr, "signoff status: %v\n", err)
		if errors.Is(err, errUnowned) {
			return 3
		}
		return exitError
	}
	return exitOK
}

// fetchClusterStatus reads GET <base>/api/admin/cluster with the admin
// bearer token and checks that the answer is consistent.
func fetchClusterStatus(ctx context.Context, hc *http.Client, base, token string) (*clusterStatus, error) {
	url := strings.TrimSuffix(base, "/") + "/api/admin/cluster"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", url, err)
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%s answered %s: wrong admin token ($SIGNOFF_ADMIN_TOKEN or --token): %s", url, resp.Status, msg)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s answered %s: that signoff is not clustered (cluster.enabled) or too old for status: %s", url, resp.Status, msg)
	default:
		return nil, fmt.Errorf("%s answered %s: %s", url, resp.Status, msg)
	}
	var st clusterStatus
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: not a cluster status: %w", url, err)
	}
	if st.Partitions < 1 {
		return nil, fmt.Errorf("%s: not a cluster status: partitions %d", url, st.Partitions)
	}
	if len(st.Owners) != st.Partitions {
		return nil, fmt.Errorf("%s: not a cluster status: %d owners for %d partitions", url, len(st.Owners), st.Partitions)
	}
	for _, in := range st.Instances {
		for _, p := range in.Owned {
			if p < 0 || p >= st.Partitions {
				return nil, fmt.Errorf("%s: not a cluster status: instance %q owns partition %d of %d", url, in.ID, p, st.Partitions)
			}
		}
	}
	return &st, nil
}

// printClusterStatus writes one row per instance (id, url, partitions
// owned, total lag, last heartbeat) and a summary line; it returns
// errUnowned when a partition has no owner.
func printClusterStatus(w io.Writer, st *clusterStatus) error {
	instances := append([]clusterInstance(nil), st.Instances...)
	sort.Slice(instances, func(i, j int) bool { return instances[i].ID < instances[j].ID })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tURL\tOWNED\tPARTITIONS\tLAG\tSEEN")
	for _, in := range instances {
		owned := append([]int(nil), in.Owned...)
		sort.Ints(owned)
		var lag uint64
		for _, l := range in.Lag {
			lag += l
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", in.ID, orDash(in.URL), len(owned), ranges(owned), lag, orDash(in.Seen))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var unowned []int
	for p, o := range st.Owners {
		if o == "" {
			unowned = append(unowned, p)
		}
	}
	fmt.Fprintf(w, "%d partitions, %d instances, %d partitions without an owner\n", st.Partitions, len(instances), len(unowned))
	if len(unowned) > 0 {
		return fmt.Errorf("%w: %s (being taken over, or no instance is live)", errUnowned, ranges(unowned))
	}
	return nil
}

// ranges writes sorted partitions compactly: 0-3,7,9-10.
func ranges(ps []int) string {
	if len(ps) == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ps[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ps[j]))
		}
		i = j + 1
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
