package events_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/signoff/signoff/events"
)

func ExampleDecode() {
	data, err := os.ReadFile("testdata/logout.requested.json")
	if err != nil {
		panic(err)
	}
	req, err := events.Decode[events.LogoutRequested](data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.LogoutID, req.Initiator, req.Scope, req.OccurredAt.Format(time.RFC3339))
	// Output: lo-01J8Z3Q4R5 user global 2026-03-14T17:45:00Z
}

func ExampleDecode_invalid() {
	data := []byte(`{
	  "event_id": "0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b",
	  "logout_id": "lo-1",
	  "occurred_at": "2026-03-14T17:45:00Z",
	  "subject": "alice",
	  "initiator": "someone",
	  "scope": "global"
	}`)
	_, err := events.Decode[events.LogoutRequested](data)
	fmt.Println(errors.Is(err, events.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// invalid logout.requested: at /initiator: value must be one of "user", "rp", "admin", "expiry", "idp"
}

func ExampleDecodeSubject() {
	data, err := os.ReadFile("testdata/logout.result.json")
	if err != nil {
		panic(err)
	}
	e, err := events.DecodeSubject(events.SubjectLogoutResult, data)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch e := e.(type) {
	case events.Result:
		fmt.Println(e.RPID, e.Outcome, e.Attempts)
	}
	// Output: wiki succeeded 1
}

func ExampleEncode() {
	b, err := events.Encode(events.SessionActivity{
		EventID:    "0190f1d2-9b00-7c4d-9e5f-a0b1c2d3e4f5",
		OccurredAt: time.Date(2026, 3, 14, 10, 2, 0, 0, time.UTC),
		SessionID:  "s-7Kq2pXw9",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	fmt.Println(events.Validate("session.activity", b))
	// Output:
	// {"event_id":"0190f1d2-9b00-7c4d-9e5f-a0b1c2d3e4f5","occurred_at":"2026-03-14T10:02:00Z","session_id":"s-7Kq2pXw9"}
	// <nil>
}

func ExampleSchemaFor() {
	name, ok := events.SchemaFor(events.DispatchSubject(events.AdapterSAML))
	fmt.Println(name, ok)
	// Output: logout.dispatch true
}
