// Package schemas holds the JSON Schemas (draft 2020-12) of every event
// signoff exchanges over NATS, one file per event and version, named
// <name>.v<version>.json (for example logout.requested.v1.json) with the $id
// https://signoff.dev/schemas/<file>. They are the contract of DESIGN.md
// ("Contract: events") for publishers that are not written in Go; package
// events compiles them and validates every incoming message against them.
//
// Format assertion is on: "uuid" and "date-time" are checked, not just
// annotations. Unknown properties are allowed (forward compatible), but a
// property whose name differs from a defined one only in letter case is
// rejected by package events.
package schemas

import "embed"

// FS holds the schema files, one per event, at the root of the file system
// (for example "logout.requested.v1.json").
//
//go:embed *.json
var FS embed.FS

// BaseURL is the prefix of every schema's $id: the $id of file f is
// BaseURL + f.
const BaseURL = "https://signoff.dev/schemas/"
