package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/signoff/signoff/events"
)

// adminLogout asks a remote signoff for a logout through its admin API
// (POST /api/admin/logout) and polls GET /api/logouts/{id} until it ends.
// Exit status as for logoutCmd.
func adminLogout(ctx context.Context, base, token, session, subject, reason string, stdout, stderr io.Writer) int {
	base = strings.TrimSuffix(base, "/")
	body, _ := json.Marshal(map[string]string{"session_id": session, "subject": subject, "reason": reason})
	call := func(method, url string, body []byte) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, b, err
	}
	resp, b, err := call("POST", base+"/api/admin/logout", body)
	if err != nil {
		fmt.Fprintf(stderr, "signoff logout: %v\n", err)
		return 1
	}
	if resp.StatusCode != http.StatusAccepted {
		fmt.Fprintf(stderr, "signoff logout: %s answered %s: %s\n", base, resp.Status, strings.TrimSpace(string(b)))
		return 1
	}
	var started struct {
		LogoutID  string `json:"logout_id"`
		StatusURL string `json:"status_url"`
	}
	json.Unmarshal(b, &started)
	fmt.Fprintf(stdout, "logout %s requested\n", started.LogoutID)
	var view struct {
		Status       events.Status `json:"status"`
		Detail       string        `json:"detail"`
		Participants []struct {
			RPID    string         `json:"rp_id"`
			Name    string         `json:"name"`
			Outcome events.Outcome `json:"outcome"`
			Detail  string         `json:"detail"`
		} `json:"participants"`
	}
	for {
		resp, b, err := call("GET", base+"/api/logouts/"+started.LogoutID, nil)
		if err == nil && resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &view); err == nil && view.Status != events.StatusRunning {
				break
			}
		} else if err == nil && resp.StatusCode != http.StatusNotFound {
			fmt.Fprintf(stderr, "signoff logout: status: %s: %s\n", resp.Status, strings.TrimSpace(string(b)))
			return 1
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "signoff logout: waiting for logout %s: %v\n", started.LogoutID, ctx.Err())
			return 1
		case <-time.After(250 * time.Millisecond):
		}
	}
	completed := events.Completed{LogoutID: started.LogoutID, Outcome: view.Status, Detail: view.Detail}
	for _, p := range view.Participants {
		completed.Participants = append(completed.Participants, events.ParticipantOutcome{RPID: p.RPID, Name: p.Name, Outcome: p.Outcome, Detail: p.Detail})
	}
	printOutcome(stdout, completed)
	if view.Status != events.StatusComplete {
		return 3
	}
	return 0
}
