package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/client"
)

// clientSecurity is how the client commands (pub, sub, bench, cluster, channel) reach a secured
// node: the root command's persistent flags, with environment variables as their defaults. Set once
// by cobra's flag parsing, before any command runs; read by connect and adminCall.
var clientSecurity struct {
	tlsCA, tlsCert, tlsKey string
	user, password, token  string
}

func addSecurityFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&clientSecurity.tlsCA, "tls-ca", os.Getenv("SAMPAN_TLS_CA"), "PEM CA certificates the server's certificate must chain to (turns TLS on; env SAMPAN_TLS_CA)")
	f.StringVar(&clientSecurity.tlsCert, "tls-cert", os.Getenv("SAMPAN_TLS_CERT"), "PEM client certificate, for servers that require one (env SAMPAN_TLS_CERT)")
	f.StringVar(&clientSecurity.tlsKey, "tls-key", os.Getenv("SAMPAN_TLS_KEY"), "PEM private key of --tls-cert (env SAMPAN_TLS_KEY)")
	f.StringVar(&clientSecurity.user, "user", os.Getenv("SAMPAN_USER"), "log in as this user (env SAMPAN_USER)")
	f.StringVar(&clientSecurity.password, "password", "", "the user's password (env SAMPAN_PASSWORD, which keeps it out of the process list)")
	f.StringVar(&clientSecurity.token, "token", "", "log in with this token (env SAMPAN_TOKEN)")
}

// credentials are the login the flags or the environment give.
func credentials() (user, password, token string) {
	s := &clientSecurity
	password, token = s.password, s.token
	if password == "" {
		password = os.Getenv("SAMPAN_PASSWORD")
	}
	if token == "" {
		token = os.Getenv("SAMPAN_TOKEN")
	}
	return s.user, password, token
}

// clientTLS is the TLS the flags ask for; nil: plain (unless a server address says tls://).
func clientTLS() (*tls.Config, error) {
	s := &clientSecurity
	if s.tlsCA == "" && s.tlsCert == "" && s.tlsKey == "" {
		return nil, nil
	}
	return client.TLSFromFiles(s.tlsCA, s.tlsCert, s.tlsKey)
}

// securityOptions are the client options the flags ask for.
func securityOptions() ([]client.Option, error) {
	var opts []client.Option
	switch user, password, token := credentials(); {
	case user != "":
		opts = append(opts, client.WithUserPassword(user, password))
	case token != "":
		opts = append(opts, client.WithToken(token))
	}
	cfg, err := clientTLS()
	if err != nil || cfg == nil {
		return opts, err
	}
	return append(opts, client.WithTLS(cfg)), nil
}

// authorize adds the flags' login to an admin API request.
func authorize(req *http.Request) {
	switch user, password, token := credentials(); {
	case user != "":
		req.SetBasicAuth(user, password)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

func newPasswd() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd",
		Short: "Print the bcrypt hash of a password or token, for a user in the config file's auth section",
		Long: `Reads a password or token (asked for without echo on a terminal, else the first line of stdin) and
prints its bcrypt hash, to put in auth.users[].password or .token of the config file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var secret string
			if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
				fmt.Fprint(cmd.ErrOrStderr(), "password or token: ")
				b, err := term.ReadPassword(fd)
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				secret = string(b)
			} else {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("sampan: passwd reads the password or token from stdin: %w", err)
				}
				secret = strings.TrimRight(line, "\r\n")
			}
			h, err := auth.Hash(secret)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	}
}
