package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/adapters/saml"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

type checkOptions struct{ config *string }

var checkCommand = &command{
	name: "check", synopsis: "--config FILE",
	summary: "validate a configuration offline, with every file it names; print every problem at once (exit 1)",
	flags: func(fs *flag.FlagSet) any {
		return checkOptions{config: fs.String("config", "signoff.yaml", "configuration `file`")}
	},
	run: func(_ context.Context, opts any, stdout, stderr io.Writer) int {
		path := *opts.(checkOptions).config
		cfg, err := checkConfig(path, os.Getenv)
		if err != nil {
			n := 1
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			}
			fmt.Fprintf(stderr, "signoff check: %s: %d problem(s):\n%v\n", path, n, err)
			return exitError
		}
		fmt.Fprintf(stdout, "signoff check: %s is valid: %d relying part%s; every file it names was read\n",
			path, len(cfg.RelyingParties), map[bool]string{true: "y", false: "ies"}[len(cfg.RelyingParties) == 1])
		return exitOK
	},
}

// checkConfig loads the configuration at path and checks it offline: the
// validation of config.Load and every file the configuration names. It
// reports every problem at once and writes nothing.
func checkConfig(path string, env func(string) string) (*config.Config, error) {
	cfg, err := config.LoadUnvalidated(path, env)
	if err != nil {
		return nil, err
	}
	if err := config.JoinProblems(cfg.Validate(), checkFiles(cfg)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkFiles reads every file the configuration names, as serve would at
// start, and writes nothing: the NATS credential files, the SSF
// transmitters' token files, the SAML metadata
// and certificate files, the keys (when there are any), and whether
// data_dir can be created or written. Every problem is reported, each at
// its key.
func checkFiles(cfg *config.Config) error {
	var errs []error
	if _, err := cfg.NATSAuth(); err != nil {
		errs = append(errs, err)
	}
	if _, err := cfg.SSFSecrets(); err != nil {
		errs = append(errs, err)
	}
	nSAML := 0
	for i, rp := range cfg.RelyingParties {
		s := rp.SAML
		if s == nil {
			continue
		}
		nSAML++
		var err error
		key := fmt.Sprintf("relying_parties[%d].saml.", i)
		switch {
		case s.Inline():
			key += "certificate_file"
			_, err = saml.LoadInline(rp.ID, rp.Name, saml.Inline{EntityID: s.EntityID, SLORedirect: s.SLORedirectURL,
				SLOPOST: s.SLOPOSTURL, SLOSOAP: s.SLOSOAPURL, CertificateFile: s.CertificatePath}, s.FrontchannelMode)
		case s.MetadataPath != "":
			key += "metadata_file"
			_, err = saml.LoadMetadataFile(rp.ID, rp.Name, s.MetadataPath, s.FrontchannelMode)
		}
		if err != nil {
			msg := err.Error()
			for _, p := range []string{"metadata_file ", "certificate_file ", "saml: "} {
				msg = strings.TrimPrefix(msg, p)
			}
			errs = append(errs, cfg.Problem(key, "%s", msg))
		}
	}
	errs = append(errs, checkDataDir(cfg)...)
	if _, err := cfg.SSFReceiverSecrets(); err != nil { // relying_parties[].ssf files
		errs = append(errs, err)
	}

	// Keys: a configured keys.dir must hold keys; data_dir/keys is generated
	// on first start when it holds none.
	dir, key := cfg.KeyDir(), "keys.dir"
	if cfg.Keys.Dir == "" {
		key = "data_dir"
	}
	if fi, err := os.Stat(dir); cfg.Keys.Dir == "" && (err != nil || !fi.IsDir()) {
		// generated on first start (or data_dir's problem is reported)
		return config.JoinProblems(errs...)
	}
	ks, err := keys.Open(dir, false, nil, slog.New(slog.DiscardHandler))
	switch {
	case err == nil:
		if _, err := ks.Signing(keys.RS256); err != nil && nSAML > 0 {
			errs = append(errs, cfg.Problem(key, "SAML relying parties need an RSA (RS256) key in %s: %v", dir, err))
		}
	case cfg.Keys.Dir == "" && errors.Is(err, keys.ErrNoKeys):
		// generated on first start
	default:
		errs = append(errs, cfg.Problem(key, "signing keys: %v", err))
	}
	return config.JoinProblems(errs...)
}

// checkDataDir: data_dir is a directory signoff can write, or can be
// created (its nearest existing parent is a writable directory).
func checkDataDir(cfg *config.Config) []error {
	dir := strings.TrimSpace(cfg.DataDir)
	if dir == "" {
		return nil // a validation error already
	}
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case (errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p != filepath.Dir(p):
			continue
		case err != nil:
			return []error{cfg.Problem("data_dir", "%s: %v", p, err)}
		case !fi.IsDir():
			return []error{cfg.Problem("data_dir", "%s is not a directory", p)}
		case !writable(p):
			if p == filepath.Clean(dir) {
				return []error{cfg.Problem("data_dir", "%s is not writable by this user", p)}
			}
			return []error{cfg.Problem("data_dir", "%s does not exist and cannot be created: %s is not writable by this user", dir, p)}
		}
		return nil
	}
}
