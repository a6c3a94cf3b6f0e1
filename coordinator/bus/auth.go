package bus

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/signoff/signoff/events"
)

// Auth is how signoff authenticates to an external NATS (Config.URL). At
// most one of CredsFile, NkeySeedFile, User with Password, and Token is
// set; TLS combines with any of them. Secret values are held here in memory
// only: LogValue and the errors of Connect never show them.
type Auth struct {
	// CredsFile is a NATS credentials file (user JWT and nkey seed).
	CredsFile string
	// NkeySeedFile holds the seed of an nkey user ("SU...").
	NkeySeedFile string
	// User and Password log in with a user name and password.
	User, Password string
	// Token logs in with an authentication token.
	Token string
	// TLS configures server verification and a client certificate.
	TLS TLS
}

// TLS is the client side of TLS to an external NATS.
type TLS struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate;
	// empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key, for a
	// server with `verify: true`.
	CertFile, KeyFile string
	// ServerName is the name expected in the server's certificate; empty
	// uses the host of the URL.
	ServerName string
}

// Enabled reports whether any TLS option is set.
func (t TLS) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// Method names the authentication method, for logs: creds, nkey, user,
// token or none.
func (a Auth) Method() string {
	switch {
	case a.CredsFile != "":
		return "creds"
	case a.NkeySeedFile != "":
		return "nkey"
	case a.User != "":
		return "user"
	case a.Token != "":
		return "token"
	}
	return "none"
}

// LogValue shows the method, the user and the files, never a secret.
func (a Auth) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("method", a.Method())}
	if a.User != "" {
		attrs = append(attrs, slog.String("user", a.User))
	}
	if a.TLS.Enabled() {
		attrs = append(attrs, slog.Bool("tls", true))
		if a.TLS.CertFile != "" {
			attrs = append(attrs, slog.String("client_cert", a.TLS.CertFile))
		}
	}
	return slog.GroupValue(attrs...)
}

// String is LogValue for fmt.
func (a Auth) String() string { return a.LogValue().String() }

// Options turns a into nats.go options, for a client of an external NATS
// other than the bus (bus.Connect applies them itself).
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	n := 0
	if a.CredsFile != "" {
		n++
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NkeySeedFile != "" {
		n++
		o, err := nats.NkeyOptionFromSeed(a.NkeySeedFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("bus: nkey seed file: %w", err)
		case err != nil:
			// Other errors may quote the file's content: name the file only.
			return nil, fmt.Errorf("bus: nkey seed file %s: no valid user nkey seed in it", a.NkeySeedFile)
		}
		opts = append(opts, o)
	}
	if a.User != "" {
		n++
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		n++
		opts = append(opts, nats.Token(a.Token))
	}
	if n > 1 {
		return nil, errors.New("bus: more than one NATS authentication method (creds file, nkey seed, user, token)")
	}
	if a.TLS.Enabled() {
		tc, err := a.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

func (t TLS) config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("bus: nats tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bus: nats tls ca_file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("bus: nats tls: cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: nats tls cert_file %s / key_file %s: %v", t.CertFile, t.KeyFile, redactPEM(err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// redactPEM drops what crypto/tls may quote of a key file.
func redactPEM(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "-----"); i >= 0 {
		msg = msg[:i] + "[content redacted]"
	}
	return msg
}

// RedactURL returns a comma-separated list of URLs with the userinfo of each
// replaced by "redacted" (user name and password or token alike), for logs
// and errors. Entries that do not parse are replaced by "<invalid URL>" when
// they contain an "@".
func RedactURL(list string) string {
	if !strings.Contains(list, "@") {
		return list
	}
	parts := strings.Split(list, ",")
	for i, raw := range parts {
		s := strings.TrimSpace(raw)
		if !strings.Contains(s, "@") {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			parts[i] = "<invalid URL>"
			continue
		}
		u.User = url.User("redacted")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// secretsIn lists the secret strings of a URL list and of a: the password or
// token of each URL's userinfo, the password and the token.
func secretsIn(list string, a Auth) []string {
	var s []string
	for _, raw := range strings.Split(list, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				s = append(s, p, url.QueryEscape(p))
			} else {
				s = append(s, u.User.Username()) // a token, or a user name: redacted too
			}
		}
	}
	for _, v := range []string{a.Password, a.Token} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// redactedError is an error whose message had secrets removed; it unwraps
// to the original, so errors.Is keeps working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactError removes from err's message the userinfo secrets of the URLs
// in list and the password and token of a; the result unwraps to err.
func RedactError(err error, list string, a Auth) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secretsIn(list, a) {
		if len(s) >= 1 && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "redacted")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// Roles of the users of the embedded server (nats.users[].role).
type Role string

const (
	// RoleIDP publishes joins, activity and logout requests and reads
	// completions; nothing else.
	RoleIDP Role = "idp"
	// RoleObserver reads completions only.
	RoleObserver Role = "observer"
)

// User is a client of the embedded server exposed with Config.Listen: a
// password user (Password; a bcrypt hash as made by `nats server passwd`
// is accepted too) or an nkey user (Nkey, the public key "U...").
type User struct {
	Name     string
	Password string
	Nkey     string
	Role     Role
}

// LogValue never shows the password.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", u.Name), slog.String("role", string(u.Role)))
}

// InternalUserPrefix starts the names of the embedded server's own users:
// no configured user may use it.
const InternalUserPrefix = "signoff"

const (
	// internalInbox is the inbox prefix of signoff's own connections, so
	// that a client allowed "_INBOX.>" (for its publish acks) reads none of
	// signoff's replies or push deliveries.
	internalInbox = "_INBOX_signoff"
	anonymousUser = InternalUserPrefix + "-anonymous"
)

// Permissions returns the nats-server permissions of role, as in
// DESIGN.md "Contract: securing the event bus"; nil for an unknown role.
func Permissions(role Role) *server.Permissions {
	switch role {
	case RoleIDP:
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{
				events.SubjectSessionJoined, events.SubjectSessionActivity, events.SubjectLogoutRequested,
			}},
			// JetStream publish acks come as replies on the client's inbox:
			// that is all of the JetStream API an IdP needs.
			Subscribe: &server.SubjectPermission{Allow: []string{events.SubjectLogoutCompleted, "_INBOX.>"}},
		}
	case RoleObserver:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{events.SubjectLogoutCompleted}},
		}
	}
	return nil
}

// serverAuth configures the users of the embedded server when it listens
// on TCP: the configured users with their roles, an internal nkey user for
// signoff's own connections whose key is generated at every start (its seed
// never leaves memory), and the anonymous user when allowed.
func (b *Bus) serverAuth(opts *server.Options) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("bus: internal nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return fmt.Errorf("bus: internal nkey: %w", err)
	}
	b.internal = kp
	b.internalPub = pub
	opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub}) // all permissions
	for _, u := range b.cfg.Users {
		perms := Permissions(u.Role)
		if u.Role == RoleIDP && perms != nil {
			perms.Publish.Allow = append(perms.Publish.Allow, b.cfg.IDPPublish...)
		}
		switch {
		case perms == nil:
			return fmt.Errorf("bus: nats user %q: unknown role %q (idp or observer)", u.Name, u.Role)
		case strings.HasPrefix(u.Name, InternalUserPrefix):
			return fmt.Errorf("bus: nats user %q: names starting with %q are signoff's own", u.Name, InternalUserPrefix)
		case (u.Password == "") == (u.Nkey == ""):
			return fmt.Errorf("bus: nats user %q: needs exactly one of password and nkey", u.Name)
		case u.Nkey != "":
			if !nkeys.IsValidPublicUserKey(u.Nkey) {
				return fmt.Errorf("bus: nats user %q: nkey is not a public user nkey (U...)", u.Name)
			}
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.Nkey, Permissions: perms})
		default:
			opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
		}
	}
	if b.cfg.AllowAnonymous {
		// Clients without credentials become this user, which has every
		// permission, as before authentication existed; its password is
		// random and never used.
		opts.Users = append(opts.Users, &server.User{Username: anonymousUser, Password: rand.Text()})
		opts.NoAuthUser = anonymousUser
	}
	if len(b.cfg.Users) == 0 && !b.cfg.AllowAnonymous {
		return errors.New("bus: nats.listen needs users or allow_anonymous")
	}
	return nil
}

// internalOptions logs signoff's own connection in as the internal user.
func (b *Bus) internalOptions() []nats.Option {
	if b.internal == nil {
		return nil
	}
	kp := b.internal
	return []nats.Option{nats.Nkey(b.internalPub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) })}
}

// connectOptions are the options of every connection of the bus besides
// its name and reconnect policy.
func (b *Bus) connectOptions() ([]nats.Option, error) {
	opts := []nats.Option{nats.CustomInboxPrefix(internalInbox)}
	if b.server != nil {
		return append(opts, b.internalOptions()...), nil
	}
	a, err := b.cfg.Auth.Options()
	if err != nil {
		return nil, err
	}
	return append(opts, a...), nil
}
