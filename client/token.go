package client

import "context"

// bearerToken sends Config.Token on every call. It does not demand a
// secure transport: a development node runs without TLS, and refusing
// there would only push users to drop the token. Use TLS in production.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// String keeps the token out of anything that prints the value.
func (bearerToken) String() string { return "bearerToken(redacted)" }
