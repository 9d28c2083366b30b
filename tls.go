package fieldsync

import (
	"crypto/tls"
	"crypto/x509"
)

// TLSTrusting returns the TLS settings of a client that trusts, besides
// the system's certificate authorities, those in caPEM (PEM text): for a
// server whose certificate an in-house authority signed.
func TLSTrusting(caPEM string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, Errorf(ErrInvalid, "the CA certificate holds no PEM certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
