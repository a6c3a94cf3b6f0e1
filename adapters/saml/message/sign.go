package message

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// minRSABits is the smallest RSA key NewSigner and SelfSignedCertificate accept.
const minRSABits = 2048

// Signer signs SAML messages as signoff, the IdP / session authority: an RSA
// key and its X.509 certificate, published in the IdP metadata
// (saml-metadata 2.4.1.1). A Signer is safe for concurrent use.
type Signer struct {
	entityID string
	key      crypto.Signer
	cert     *x509.Certificate
	ctx      *dsig.SigningContext
}

// NewSigner returns a Signer for entityID (the <saml:Issuer> of every message
// it signs, saml-core 2.2.5). key must be an RSA key of at least 2048 bits and
// cert must be its certificate.
func NewSigner(entityID string, key crypto.Signer, cert *x509.Certificate) (*Signer, error) {
	if entityID == "" {
		return nil, errors.New("saml: signer: entityID is required")
	}
	if err := checkFields(map[string]string{"entityID": entityID}); err != nil {
		return nil, fmt.Errorf("saml: signer: %w", err)
	}
	if key == nil || cert == nil {
		return nil, errors.New("saml: signer: key and certificate are required")
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("saml: signer: key is %T, only RSA is supported", key.Public())
	}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("saml: signer: RSA key has %d bits, need at least %d", pub.N.BitLen(), minRSABits)
	}
	if certPub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !certPub.Equal(pub) {
		return nil, errors.New("saml: signer: certificate does not match the key")
	}
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("saml: signer: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("saml: signer: %w", err)
	}
	return &Signer{entityID: entityID, key: key, cert: cert, ctx: ctx}, nil
}

// EntityID returns the entityID the Signer signs as (saml-metadata 2.3.2).
func (s *Signer) EntityID() string { return s.entityID }

// Certificate returns the Signer's certificate, for the IdP metadata
// <md:KeyDescriptor use="signing"> (saml-metadata 2.4.1.1).
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// SelfSignedCertificate returns a deterministic self-signed certificate for
// key, to publish in metadata (saml-metadata 2.4.1.1): the same key,
// commonName and notBefore always give the same DER bytes, so SPs that
// pinned the certificate from metadata keep working across restarts. The
// serial number is derived from a SHA-256 hash of the public key, the
// validity is notBefore (truncated to the second) to notBefore + 20 years,
// and the signature is RSA PKCS #1 v1.5 with SHA-256, which is
// deterministic. key must be RSA (at least 2048 bits).
func SelfSignedCertificate(key crypto.Signer, commonName string, notBefore time.Time) (*x509.Certificate, error) {
	if key == nil {
		return nil, errors.New("saml: self-signed certificate: key is required")
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("saml: self-signed certificate: key is %T, only RSA is supported", key.Public())
	}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("saml: self-signed certificate: RSA key has %d bits, need at least %d", pub.N.BitLen(), minRSABits)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("saml: self-signed certificate: %w", err)
	}
	sum := sha256.Sum256(spki)
	serial := new(big.Int).SetBytes(sum[:16])
	serial.SetBit(serial, 127, 0) // positive and at most 16 octets
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	notBefore = notBefore.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
		SubjectKeyId:          sum[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("saml: self-signed certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// SignRequest returns r as XML with an enveloped signature (saml-core 5.4)
// for the HTTP-POST (saml-bindings 3.5) and SOAP (saml-bindings 3.2)
// bindings. The <ds:Signature> is placed right after <saml:Issuer>, as the
// schema requires; exclusive c14n, RSA-SHA256, SHA-256 digest, Reference
// URI "#"+ID and a KeyInfo with the certificate. An empty r.Issuer becomes
// the Signer's entityID; any other Issuer is an error. Send the returned
// bytes as they are: re-serializing or indenting breaks the signature.
func (s *Signer) SignRequest(r LogoutRequest) ([]byte, error) {
	if r.Issuer == "" {
		r.Issuer = s.entityID
	}
	if r.Issuer != s.entityID {
		return nil, fmt.Errorf("saml: LogoutRequest: Issuer %q is not the signer's entityID %q", r.Issuer, s.entityID)
	}
	doc, err := buildRequest(r)
	if err != nil {
		return nil, err
	}
	return s.sign(doc)
}

// SignResponse returns r as XML with an enveloped signature, like
// SignRequest (saml-core 5.4, 3.7.2).
func (s *Signer) SignResponse(r LogoutResponse) ([]byte, error) {
	if r.Issuer == "" {
		r.Issuer = s.entityID
	}
	if r.Issuer != s.entityID {
		return nil, fmt.Errorf("saml: LogoutResponse: Issuer %q is not the signer's entityID %q", r.Issuer, s.entityID)
	}
	doc, err := buildResponse(r)
	if err != nil {
		return nil, err
	}
	return s.sign(doc)
}

// sign computes the enveloped signature of doc's root and inserts it after
// the first child, <saml:Issuer>. ConstructSignature canonicalizes the root
// in place, so the serialized bytes are exactly what was digested.
func (s *Signer) sign(doc *etree.Document) ([]byte, error) {
	root := doc.Root()
	sig, err := s.ctx.ConstructSignature(root, true)
	if err != nil {
		return nil, fmt.Errorf("saml: signing: %w", err)
	}
	root.InsertChildAt(1, sig)
	return doc.WriteToBytes()
}

// signString signs the octets of an HTTP-Redirect query (saml-bindings
// 3.4.4.1) with RSA-SHA256.
func (s *Signer) signString(signed string) ([]byte, error) {
	sum := sha256.Sum256([]byte(signed))
	return s.key.Sign(rand.Reader, sum[:], crypto.SHA256)
}
