package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/nats-io/nkeys"
)

// Roles of nats.users.
const (
	// RoleIDP may publish signoff.session.joined, signoff.session.activity
	// and signoff.logout.requested and read signoff.logout.completed.
	RoleIDP = "idp"
	// RoleObserver may read signoff.logout.completed.
	RoleObserver = "observer"
)

// ReservedNATSUserPrefix starts the names of the embedded server's own
// users; no nats.users entry may use it.
const ReservedNATSUserPrefix = "signoff"

var natsUserRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// natsMethod is one client authentication method that is set.
type natsMethod struct{ path, name string }

// clientMethods lists the client authentication methods that are set, in
// the order of the keys.
func (n *NATS) clientMethods() []natsMethod {
	var m []natsMethod
	if n.CredsFile != "" {
		m = append(m, natsMethod{"nats.creds_file", "creds_file"})
	}
	if n.NkeySeedFile != "" {
		m = append(m, natsMethod{"nats.nkey_seed_file", "nkey_seed_file"})
	}
	if n.User != "" {
		m = append(m, natsMethod{"nats.user", "user"})
	}
	if n.TokenFile != "" || n.envToken() != "" {
		m = append(m, natsMethod{"nats.token_file", "token_file"})
	}
	return m
}

func (t NATSTLS) set() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// nats validates the authentication keys of the nats section (DESIGN.md
// "Contract: securing the event bus").
func (v *validator) nats(n *NATS) {
	hasPassword := n.PasswordFile != "" || n.envPassword() != ""
	if n.URL != "" {
		if len(n.Users) > 0 {
			v.add("nats.users", "configures the embedded server, which does not run when nats.url is set: give these users to your nats-server instead")
		}
		if n.AllowAnonymous {
			v.add("nats.allow_anonymous", "configures the embedded server, which does not run when nats.url is set")
		}
		methods := n.clientMethods()
		for _, m := range methods[min(1, len(methods)):] {
			v.add(m.path, "cannot be combined with nats.%s: use one authentication method", methods[0].name)
		}
		if n.User != "" && !hasPassword {
			v.add("nats.user", "needs nats.password_file (or %s)", EnvNATSPassword)
		}
		if hasPassword && n.User == "" {
			v.add("nats.password_file", "needs nats.user")
		}
		if len(methods) > 0 && urlHasUserinfo(n.URL) {
			v.add("nats.url", "has credentials in it besides nats.%s: remove them from the URL", methods[0].name)
		}
		if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
			if n.TLS.CertFile == "" {
				v.add("nats.tls.cert_file", "required with nats.tls.key_file")
			} else {
				v.add("nats.tls.key_file", "required with nats.tls.cert_file")
			}
		}
		return
	}

	// The embedded server: signoff connects in-process, without credentials.
	const external = "is for an external NATS (nats.url); signoff's own connections to the embedded server need no credentials"
	for _, p := range []struct {
		path string
		set  bool
	}{
		{"nats.creds_file", n.CredsFile != ""},
		{"nats.nkey_seed_file", n.NkeySeedFile != ""},
		{"nats.user", n.User != ""},
		{"nats.password_file", hasPassword},
		{"nats.token_file", n.TokenFile != "" || n.envToken() != ""},
		{"nats.tls", n.TLS.set()},
	} {
		if p.set {
			v.add(p.path, "%s", external)
		}
	}
	switch {
	case n.Listen == "" && len(n.Users) > 0:
		v.add("nats.users", "needs nats.listen: without it the embedded server accepts no network clients")
	case n.Listen == "" && n.AllowAnonymous:
		v.add("nats.allow_anonymous", "needs nats.listen: without it the embedded server accepts no network clients")
	case n.Listen != "" && len(n.Users) == 0 && !n.AllowAnonymous:
		v.add("nats.listen", "requires nats.users (name, password_file or nkey, role): every client of the exposed server must authenticate; nats.allow_anonymous: true allows anonymous clients, for development on loopback only")
	}
	names := map[string]int{}
	for i, u := range n.Users {
		p := fmt.Sprintf("nats.users[%d]", i)
		switch {
		case u.Name == "":
			v.add(p+".name", "required")
		case !natsUserRE.MatchString(u.Name):
			v.add(p+".name", "must be 1-64 characters of A-Z a-z 0-9 . _ -, got %q", u.Name)
		case strings.HasPrefix(strings.ToLower(u.Name), ReservedNATSUserPrefix):
			v.add(p+".name", "names starting with %q are reserved for signoff's own connections, got %q", ReservedNATSUserPrefix, u.Name)
		default:
			if j, dup := names[u.Name]; dup {
				v.add(p+".name", "%q is already the name of nats.users[%d]", u.Name, j)
			} else {
				names[u.Name] = i
			}
		}
		switch {
		case u.PasswordFile != "" && u.Nkey != "":
			v.add(p, "has password_file and nkey: use one")
		case u.PasswordFile == "" && u.Nkey == "":
			v.add(p, "needs password_file or nkey")
		case u.Nkey != "" && !nkeys.IsValidPublicUserKey(u.Nkey):
			v.add(p+".nkey", "must be a public user nkey (56 characters starting with U), not a seed or another kind of key")
		}
		switch u.Role {
		case RoleIDP, RoleObserver:
		case "":
			v.add(p+".role", "required: idp or observer")
		default:
			v.add(p+".role", "must be idp or observer, got %q", u.Role)
		}
	}
}

func urlHasUserinfo(list string) bool {
	for _, raw := range strings.Split(list, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// NATSAuth is the nats section with its files resolved and its secrets
// read: what signoff needs to connect to nats.url or to run the embedded
// server's users. It holds secrets: do not log it.
type NATSAuth struct {
	// CredsFile, NkeySeedFile and the TLS files are paths resolved against
	// the config file's directory.
	CredsFile, NkeySeedFile string
	User, Password          string
	Token                   string
	TLS                     NATSTLS
	// Users are nats.users with Password read from password_file.
	Users []NATSAuthUser
}

// NATSAuthUser is one of nats.users with its password read.
type NATSAuthUser struct {
	Name, Password, Nkey, Role string
}

// NATSAuth checks that the files of the nats section exist and reads its
// secrets (password, token and user password files, or
// SIGNOFF_NATS_PASSWORD and SIGNOFF_NATS_TOKEN). Its errors name the key
// and line like those of Validate, never a secret. Call it on a valid
// Config, at start-up.
func (c *Config) NATSAuth() (*NATSAuth, error) {
	n := &c.NATS
	v := &validator{src: c.src}
	a := &NATSAuth{User: n.User, Password: n.envPassword(), Token: n.envToken()}
	// exists checks a file that another library reads later.
	exists := func(path, file string) string {
		if file == "" {
			return ""
		}
		p := c.relative(file)
		f, err := os.Open(p)
		if err != nil {
			v.add(path, "%s", fileErr(p, err))
			return p
		}
		f.Close()
		return p
	}
	// secret reads a file holding one secret.
	secret := func(path, file string) string {
		if file == "" {
			return ""
		}
		s, p, ok := v.readSecretFile(c, path, file)
		if ok && s == "" {
			v.add(path, "%s is empty", p)
		}
		return s
	}
	if n.URL != "" {
		a.CredsFile = exists("nats.creds_file", n.CredsFile)
		a.NkeySeedFile = exists("nats.nkey_seed_file", n.NkeySeedFile)
		if a.Password == "" {
			a.Password = secret("nats.password_file", n.PasswordFile)
		}
		if a.Token == "" {
			a.Token = secret("nats.token_file", n.TokenFile)
		}
		a.TLS = NATSTLS{
			CAFile:     exists("nats.tls.ca_file", n.TLS.CAFile),
			CertFile:   exists("nats.tls.cert_file", n.TLS.CertFile),
			KeyFile:    exists("nats.tls.key_file", n.TLS.KeyFile),
			ServerName: n.TLS.ServerName,
		}
	}
	if n.URL == "" && n.Listen != "" {
		for i, u := range n.Users {
			a.Users = append(a.Users, NATSAuthUser{
				Name: u.Name, Nkey: u.Nkey, Role: u.Role,
				Password: secret(fmt.Sprintf("nats.users[%d].password_file", i), u.PasswordFile),
			})
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return a, nil
}

// fileErr says why path cannot be read without the wrapping of os errors.
func fileErr(path string, err error) string {
	switch {
	case os.IsNotExist(err):
		return fmt.Sprintf("%s does not exist", path)
	case os.IsPermission(err):
		return fmt.Sprintf("%s cannot be read (permission denied)", path)
	}
	return fmt.Sprintf("%s: %v", path, err)
}
