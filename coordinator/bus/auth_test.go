package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// exampleConf is the nats-server configuration that README.md gives for an
// external cluster; the tests run this very file.
const exampleConf = "../../cmd/signoff/examples/nats-server.conf"

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of loggers.
type lockedBuffer = natstest.LogBuffer

func captureLog() (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// serverLog records everything a nats-server logs, tracing included.
type serverLog struct{ buf lockedBuffer }

func (l *serverLog) logf(level, f string, v ...any) { fmt.Fprintf(&l.buf, level+" "+f+"\n", v...) }
func (l *serverLog) Noticef(f string, v ...any)     { l.logf("INF", f, v...) }
func (l *serverLog) Warnf(f string, v ...any)       { l.logf("WRN", f, v...) }
func (l *serverLog) Fatalf(f string, v ...any)      { l.logf("FTL", f, v...) }
func (l *serverLog) Errorf(f string, v ...any)      { l.logf("ERR", f, v...) }
func (l *serverLog) Debugf(f string, v ...any)      { l.logf("DBG", f, v...) }
func (l *serverLog) Tracef(f string, v ...any)      { l.logf("TRC", f, v...) }

func secret(t *testing.T) string {
	t.Helper()
	return "pw-" + rand.Text()
}

// externalServer is a real nats-server running cmd/signoff/examples/nats-server.conf.
type externalServer struct {
	url                    string
	signoff, idp, observer string // passwords
	log                    *serverLog
}

// startExampleServer runs the example configuration on a random loopback
// port, with the passwords in the environment as the file expects: signoff's
// as a bcrypt hash, the others in plain.
func startExampleServer(t *testing.T) *externalServer {
	t.Helper()
	es := &externalServer{signoff: secret(t), idp: secret(t), observer: secret(t), log: &serverLog{}}
	hash, err := bcrypt.GenerateFromPassword([]byte(es.signoff), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNOFF_NATS_SERVER_PASSWORD", string(hash))
	t.Setenv("IDP_NATS_SERVER_PASSWORD", es.idp)
	t.Setenv("OBSERVER_NATS_SERVER_PASSWORD", es.observer)
	opts, err := server.ProcessConfigFile(exampleConf)
	if err != nil {
		t.Fatalf("%s: %v", exampleConf, err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.NoSigs = true
	ns := runServer(t, opts, es.log)
	es.url = ns.ClientURL()
	return es
}

func runServer(t *testing.T, opts *server.Options, log *serverLog) *server.Server {
	t.Helper()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.SetLoggerV2(log, true, true, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// startEmbeddedListening starts the bus with its embedded server on a
// random loopback port, with an idp and an observer user.
func startEmbeddedListening(t *testing.T, log *slog.Logger, idpPw, obsPw string) *Bus {
	t.Helper()
	b, err := Start(context.Background(), Config{
		StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0", Logger: log,
		Users: []User{{Name: "idp", Password: idpPw, Role: RoleIDP}, {Name: "observer", Password: obsPw, Role: RoleObserver}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// client is a NATS connection that records the asynchronous errors the
// server sends it, such as permission violations.
type client struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func connectClient(t *testing.T, url string, opts ...nats.Option) *client {
	t.Helper()
	c := &client{}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// violation waits until the server has refused op ("publish" or
// "subscription") on subject to c.
func (c *client) violation(t *testing.T, op, subject string) {
	t.Helper()
	want := strings.ToLower(fmt.Sprintf("permissions violation for %s to %q", op, subject))
	eventstest.EventuallyErr(t, 5*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(strings.ToLower(err.Error()), want) {
				return nil
			}
		}
		return fmt.Errorf("no %q among the errors %v", want, c.errs)
	})
}

func (c *client) noViolations(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		t.Errorf("unexpected error: %v", err)
	}
}

func streamCount(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatalf("stream %s: %v", events.StreamName, err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// checkRoles shows what the idp and observer users may do on a NATS where
// signoff (b) runs: the permissions of DESIGN.md "Contract: securing the
// event bus".
func checkRoles(t *testing.T, b *Bus, url string, idpOpt, obsOpt nats.Option) {
	ctx := context.Background()
	js := b.JetStream()
	if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{Durable: "coordinator-test", FilterSubject: events.SubjectLogoutRequested}); err != nil {
		t.Fatal(err)
	}
	signoffNC, err := b.Connect("signoff-test")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("idp", func(t *testing.T) {
		idp := connectClient(t, url, idpOpt)
		idpJS, err := jetstream.New(idp.nc)
		if err != nil {
			t.Fatal(err)
		}
		// Joins, activity and logout requests: stored, with a publish ack.
		for _, subj := range []string{events.SubjectSessionJoined, events.SubjectSessionActivity, events.SubjectLogoutRequested} {
			before := streamCount(t, js, subj)
			ack, err := idpJS.Publish(ctx, subj, []byte(`{}`))
			if err != nil {
				t.Fatalf("idp publish %s: %v", subj, err)
			}
			if ack.Stream != events.StreamName {
				t.Errorf("publish %s: ack from stream %q", subj, ack.Stream)
			}
			if n := streamCount(t, js, subj); n != before+1 {
				t.Errorf("%s: %d messages in the stream, want %d", subj, n, before+1)
			}
		}
		idp.noViolations(t)

		// Completions can be read; joins cannot.
		completed, err := idp.nc.SubscribeSync(events.SubjectLogoutCompleted)
		if err != nil {
			t.Fatal(err)
		}
		joined, err := idp.nc.SubscribeSync(events.SubjectSessionJoined)
		if err != nil {
			t.Fatal(err)
		}
		idp.violation(t, "subscription", events.SubjectSessionJoined)
		if err := signoffNC.Publish(events.SubjectSessionJoined, []byte("secret join")); err != nil {
			t.Fatal(err)
		}
		if err := signoffNC.Publish(events.SubjectLogoutCompleted, []byte("done")); err != nil {
			t.Fatal(err)
		}
		m, err := completed.NextMsg(5 * time.Second)
		if err != nil || string(m.Data) != "done" {
			t.Fatalf("idp reading completions: %v", err)
		}
		// The server delivers in order: the join, published first, would be
		// here by now.
		if n, _, _ := joined.Pending(); n != 0 {
			t.Errorf("idp received %d session.joined", n)
		}

		// Dispatches and results: refused, and not stored.
		for _, subj := range []string{events.SubjectDispatchPrefix + "backchannel", events.SubjectLogoutResult} {
			if err := idp.nc.Publish(subj, []byte(`{"forged":true}`)); err != nil {
				t.Fatal(err)
			}
			idp.violation(t, "publish", subj)
			if n := streamCount(t, js, subj); n != 0 {
				t.Errorf("%s: %d forged messages in the stream", subj, n)
			}
		}
		// No stream or consumer management.
		for _, subj := range []string{
			"$JS.API.CONSUMER.DELETE." + events.StreamName + ".coordinator-test",
			"$JS.API.STREAM.DELETE." + events.StreamName,
			"$JS.API.STREAM.PURGE." + events.StreamName,
		} {
			if err := idp.nc.PublishRequest(subj, idp.nc.NewRespInbox(), nil); err != nil {
				t.Fatal(err)
			}
			idp.violation(t, "publish", subj)
		}
		if _, err := js.Consumer(ctx, events.StreamName, "coordinator-test"); err != nil {
			t.Errorf("consumer after the idp tried to delete it: %v", err)
		}
		if n := streamCount(t, js, events.SubjectSessionJoined); n == 0 {
			t.Error("stream purged or deleted by the idp")
		}
		// signoff's own replies are out of its reach.
		if _, err := idp.nc.SubscribeSync(internalInbox + ".>"); err != nil {
			t.Fatal(err)
		}
		idp.violation(t, "subscription", internalInbox+".>")
	})

	t.Run("observer", func(t *testing.T) {
		obs := connectClient(t, url, obsOpt)
		completed, err := obs.nc.SubscribeSync(events.SubjectLogoutCompleted)
		if err != nil {
			t.Fatal(err)
		}
		if err := obs.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := signoffNC.Publish(events.SubjectLogoutCompleted, []byte("done")); err != nil {
			t.Fatal(err)
		}
		if _, err := completed.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("observer reading completions: %v", err)
		}
		obs.noViolations(t)
		for _, subj := range []string{events.SubjectLogoutRequested, events.SubjectSessionJoined} {
			if err := obs.nc.Publish(subj, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			obs.violation(t, "publish", subj)
		}
		for _, subj := range []string{events.SubjectSessionJoined, "signoff.>", "_INBOX.>"} {
			if _, err := obs.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			obs.violation(t, "subscription", subj)
		}
		if _, err := jetstream.New(obs.nc); err != nil {
			t.Fatal(err)
		}
		obs.nc.PublishRequest("$JS.API.STREAM.INFO."+events.StreamName, "_INBOX.x", nil)
		obs.violation(t, "publish", "$JS.API.STREAM.INFO."+events.StreamName)
	})
}

func TestEmbeddedServerRequiresAuthentication(t *testing.T) {
	log, logs := captureLog()
	idpPw, obsPw := secret(t), secret(t)
	b := startEmbeddedListening(t, log, idpPw, obsPw)
	url := b.ClientURL()
	if url == "" || strings.HasSuffix(url, ":4222") {
		t.Fatalf("ClientURL = %q, want a random port", url)
	}

	t.Run("anonymous refused", func(t *testing.T) {
		_, err := nats.Connect(url)
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous connect: err = %v, want an authorization violation", err)
		}
		_, err = nats.Connect(url, nats.UserInfo("idp", "wrong-"+idpPw))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("wrong password: err = %v, want an authorization violation", err)
		}
	})
	checkRoles(t, b, url, nats.UserInfo("idp", idpPw), nats.UserInfo("observer", obsPw))

	out := logs.String()
	for _, s := range []string{idpPw, obsPw} {
		if strings.Contains(out, s) {
			t.Errorf("a password is in the log:\n%s", out)
		}
	}
	if strings.Contains(out, "anonymous") {
		t.Errorf("anonymous warning without allow_anonymous:\n%s", out)
	}
}

func TestEmbeddedServerNkeyUser(t *testing.T) {
	seedFile, pub := nkeyUser(t)
	b, err := Start(context.Background(), Config{
		StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0",
		Users: []User{{Name: "idp", Nkey: pub, Role: RoleIDP}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	c := connectClient(t, b.ClientURL(), opt)
	js, _ := jetstream.New(c.nc)
	if _, err := js.Publish(context.Background(), events.SubjectLogoutRequested, []byte(`{}`)); err != nil {
		t.Fatalf("nkey idp publish: %v", err)
	}
	c.nc.Publish(events.SubjectLogoutResult, []byte(`{}`))
	c.violation(t, "publish", events.SubjectLogoutResult)
}

func TestInternalUserCannotBeConfigured(t *testing.T) {
	for _, name := range []string{"signoff", "signoff-anonymous", "signoff-internal"} {
		_, err := Start(context.Background(), Config{
			StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0",
			Users: []User{{Name: name, Password: "x", Role: RoleIDP}},
		})
		if err == nil || !strings.Contains(err.Error(), "signoff's own") {
			t.Errorf("user %q: err = %v, want it refused", name, err)
		}
	}
	_, err := Start(context.Background(), Config{StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0"})
	if err == nil {
		t.Error("Listen without users or AllowAnonymous started")
	}
}

func TestAllowAnonymousWarns(t *testing.T) {
	log, logs := captureLog()
	b, err := Start(context.Background(), Config{
		StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0", AllowAnonymous: true, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.Contains(logs.String(), "level=WARN msg=\"embedded NATS allows anonymous clients") {
		t.Errorf("no warning about anonymous access:\n%s", logs)
	}
	c := connectClient(t, b.ClientURL())
	js, _ := jetstream.New(c.nc)
	if _, err := js.Publish(context.Background(), events.SubjectLogoutRequested, []byte(`{}`)); err != nil {
		t.Fatalf("anonymous publish: %v", err)
	}
}

// TestExampleServerConfig runs signoff against the example nats-server.conf
// as its signoff user: provisioning, a publisher and a durable consumer
// work without a single permission violation; then the idp and observer
// users of that file have exactly their permissions.
func TestExampleServerConfig(t *testing.T) {
	es := startExampleServer(t)

	t.Run("anonymous refused", func(t *testing.T) {
		if _, err := nats.Connect(es.url); !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous connect: err = %v, want an authorization violation", err)
		}
	})

	log, logs := captureLog()
	b, err := Start(context.Background(), Config{URL: es.url, Auth: Auth{User: "signoff", Password: es.signoff}, Logger: log})
	if err != nil {
		t.Fatalf("signoff with the example configuration: %v", err)
	}
	defer b.Close()

	// signoff's own consumers: the ordered intake and a work consumer.
	got := make(chan string, 2)
	o, err := b.Ordered(OrderedConfig{Name: "test", Subjects: []string{"signoff.test"},
		Apply: func(_ context.Context, batch []jetstream.Msg) error {
			for _, m := range batch {
				got <- "ordered:" + string(m.Data())
			}
			return nil
		}})
	if err != nil {
		t.Fatalf("ordered consumer as signoff: %v", err)
	}
	defer o.Stop()
	w, err := b.Work(context.Background(), WorkConfig{Durable: "test", Subject: "signoff.test", Free: func() int { return 1 },
		Take: func(_ context.Context, m jetstream.Msg) error { got <- "work:" + string(m.Data()); return nil }})
	if err != nil {
		t.Fatalf("durable consumer as signoff: %v", err)
	}
	defer w.Stop()
	if _, err := b.JetStream().Publish(context.Background(), "signoff.test", []byte("hello"), jetstream.WithMsgID("m1")); err != nil {
		t.Fatalf("publish as signoff: %v", err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case m := <-got:
			seen[m] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("delivered to signoff's consumers: %v", seen)
		}
	}
	if !seen["ordered:hello"] || !seen["work:hello"] {
		t.Fatalf("delivered: %v", seen)
	}
	eventstest.EventuallyErr(t, 5*time.Second, func() error {
		c, err := b.JetStream().Consumer(context.Background(), events.StreamName, "test")
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.NumAckPending != 0 {
			return fmt.Errorf("%d unacknowledged", info.NumAckPending)
		}
		return nil
	})
	for _, line := range strings.Split(es.log.buf.String(), "\n") {
		if strings.Contains(line, "Permissions Violation") {
			t.Errorf("signoff's user in the example lacks a permission: %s", line)
		}
	}

	checkRoles(t, b, es.url, nats.UserInfo("idp", es.idp), nats.UserInfo("observer", es.observer))

	if out := logs.String() + es.log.buf.String(); strings.Contains(out, es.signoff) || strings.Contains(out, es.idp) || strings.Contains(out, es.observer) {
		t.Error("a password is in a log")
	}
}

// TestNoSecretInLogs starts the bus against the example server with a
// wrong and then the right password, in Auth and in the URL, and with a
// token: neither the log nor the error holds the secret.
func TestNoSecretInLogs(t *testing.T) {
	es := startExampleServer(t)
	host := strings.TrimPrefix(es.url, "nats://")
	wrong := secret(t)
	token := secret(t)
	tests := []struct {
		name    string
		url     string
		auth    Auth
		ok      bool
		secrets []string
	}{
		{"wrong password", es.url, Auth{User: "signoff", Password: wrong}, false, []string{wrong}},
		{"wrong password in URL", "nats://signoff:" + wrong + "@" + host, Auth{}, false, []string{wrong}},
		{"wrong token", es.url, Auth{Token: token}, false, []string{token}},
		{"token in URL", "nats://" + token + "@" + host, Auth{}, false, []string{token}},
		{"right password", es.url, Auth{User: "signoff", Password: es.signoff}, true, []string{es.signoff}},
		{"right password in URL", "nats://signoff:" + es.signoff + "@" + host + ",nats://signoff:" + es.signoff + "@" + host, Auth{}, true, []string{es.signoff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := captureLog()
			b, err := Start(context.Background(), Config{URL: tt.url, Auth: tt.auth, Logger: log})
			if tt.ok {
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				log.Info("started", "auth", tt.auth, "url", RedactURL(tt.url))
				b.Close()
			} else {
				if err == nil {
					b.Close()
					t.Fatal("started with wrong credentials")
				}
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("err = %v, want it to wrap nats.ErrAuthorization", err)
				}
				log.Error("start failed", "err", err)
			}
			out := logs.String()
			for _, s := range tt.secrets {
				if strings.Contains(out, s) {
					t.Errorf("secret in the log:\n%s", out)
				}
			}
			if strings.Contains(tt.url, "@") && !strings.Contains(out, "redacted@") {
				t.Errorf("URL not shown redacted:\n%s", out)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://n1:4222":                            "nats://n1:4222",
		"nats://u:p@n1:4222":                        "nats://redacted@n1:4222",
		"nats://tok@n1:4222, tls://u:p%40x@n2:4222": "nats://redacted@n1:4222,tls://redacted@n2:4222",
		"nats://u:p@n1:4222,nats://n2":              "nats://redacted@n1:4222,nats://n2",
		"nats://u:p@[::1:4222":                      "<invalid URL>",
		"":                                          "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	err := RedactError(errors.New("dial nats://u:hunter2@x failed, token s3cr3t"), "nats://u:hunter2@x", Auth{Token: "s3cr3t"})
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("RedactError = %v", err)
	}
}

// TestTLSClientCertificate runs a nats-server that requires client
// certificates (verify: true), with a CA, server and client certificate
// made here: the bus connects with the client certificate and not without.
func TestTLSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.der)
	serverCert, serverKey := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)

	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: caFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
		TLSConfig: tc, TLSVerify: true, TLSTimeout: 5,
	}
	ns := runServer(t, opts, &serverLog{})
	url := fmt.Sprintf("tls://127.0.0.1:%d", ns.Addr().(*net.TCPAddr).Port)

	b, err := Start(context.Background(), Config{URL: url, Auth: Auth{TLS: TLS{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "127.0.0.1"}}})
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if _, err := b.JetStream().Stream(context.Background(), events.StreamName); err != nil {
		t.Errorf("stream over TLS: %v", err)
	}
	b.Close()

	if b, err := Start(context.Background(), Config{URL: url, Auth: Auth{TLS: TLS{CAFile: caFile}}}); err == nil {
		b.Close()
		t.Fatal("connected without a client certificate to a server with verify: true")
	}
	// A server certificate from another CA is refused too.
	other := newCA(t)
	otherFile := writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.der)
	if b, err := Start(context.Background(), Config{URL: url, Auth: Auth{TLS: TLS{CAFile: otherFile, CertFile: clientCert, KeyFile: clientKey}}}); err == nil {
		b.Close()
		t.Fatal("accepted a server certificate of an unknown CA")
	}
}

type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signoff test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, der: der, key: key}
}

// issue writes a certificate for 127.0.0.1 and its key; it returns their files.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nkeyUser makes a user nkey: its seed in a file, and its public key.
func nkeyUser(t *testing.T) (seedFile, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub
}

// TestClientNkeyAndToken logs the bus in to external servers with an nkey
// seed file and with a token; a file that holds no seed fails without
// quoting it.
func TestClientNkeyAndToken(t *testing.T) {
	seedFile, pub := nkeyUser(t)
	nkeyServer := runServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
		Nkeys: []*server.NkeyUser{{Nkey: pub}}}, &serverLog{})
	b, err := Start(context.Background(), Config{URL: nkeyServer.ClientURL(), Auth: Auth{NkeySeedFile: seedFile}})
	if err != nil {
		t.Fatalf("nkey: %v", err)
	}
	b.Close()
	bad := filepath.Join(t.TempDir(), "bad.nk")
	os.WriteFile(bad, []byte("not-a-seed-but-a-secret"), 0o600)
	if _, err := Start(context.Background(), Config{URL: nkeyServer.ClientURL(), Auth: Auth{NkeySeedFile: bad}}); err == nil || strings.Contains(err.Error(), "not-a-seed") {
		t.Errorf("bad seed file: err = %v", err)
	}
	if _, err := Start(context.Background(), Config{URL: nkeyServer.ClientURL()}); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("no credentials: err = %v, want an authorization violation", err)
	}

	token := secret(t)
	tokenServer := runServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
		Authorization: token}, &serverLog{})
	log, logs := captureLog()
	b, err = Start(context.Background(), Config{URL: tokenServer.ClientURL(), Auth: Auth{Token: token}, Logger: log})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	log.Info("auth", "auth", b.cfg.Auth)
	b.Close()
	if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "auth.method=token") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestClientCredsFile logs the bus in with a creds file (user JWT and seed)
// to a nats-server in operator mode, and provisions the stream there.
func TestClientCredsFile(t *testing.T) {
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		claims := jwt.NewAccountClaims(pub)
		if js {
			claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: 64 << 20, Streams: 10, Consumer: -1}
		}
		j, err := claims.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		return kp, pub, j
	}
	_, sysPub, sysJWT := account(false)
	acc, accPub, accJWT := account(true)
	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	userSeed, _ := user.Seed()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(acc)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(userJWT, userSeed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "signoff.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "operator.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `operator: %s
system_account: %s
resolver: MEMORY
resolver_preload: { %s: %s, %s: %s }
jetstream: { store_dir: %q }
`, opJWT, sysPub, sysPub, sysJWT, accPub, accJWT, filepath.Join(dir, "js")), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true
	ns := runServer(t, opts, &serverLog{})

	log, logs := captureLog()
	b, err := Start(context.Background(), Config{URL: ns.ClientURL(), Auth: Auth{CredsFile: credsFile}, Logger: log})
	if err != nil {
		t.Fatalf("creds file: %v", err)
	}
	if _, err := b.JetStream().Stream(context.Background(), events.StreamName); err != nil {
		t.Errorf("stream: %v", err)
	}
	b.Close()
	if strings.Contains(logs.String(), string(userSeed)) {
		t.Error("the seed is in the log")
	}
	if _, err := Start(context.Background(), Config{URL: ns.ClientURL()}); err == nil {
		t.Error("connected to an operator-mode server without credentials")
	}
}
