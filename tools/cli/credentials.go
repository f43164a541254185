package cli

import (
	"errors"
	"os"

	"github.com/spf13/pflag"
)

// Environment variables that give the ACL account when the flags do not.
const (
	envAccessKey = "WHARF_ACCESS_KEY"
	envSecretKey = "WHARF_SECRET_KEY"
)

// credentialFlags are --access-key and --secret-key: an account of the
// servers' plain_acl.yml that signs every request. The environment gives
// them when the flags do not (the secret then stays out of ps output and
// shell history; it is never a flag default, which --help would print).
type credentialFlags struct {
	accessKey, secretKey string
}

func (c *credentialFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&c.accessKey, "access-key", "", "ACL access key that signs requests (default $"+envAccessKey+")")
	fs.StringVar(&c.secretKey, "secret-key", "", "ACL secret key (default $"+envSecretKey+")")
}

// resolve returns the account, from the flags or else the environment;
// both empty means unsigned.
func (c *credentialFlags) resolve() (accessKey, secretKey string, err error) {
	accessKey, secretKey = c.accessKey, c.secretKey
	if accessKey == "" {
		accessKey = os.Getenv(envAccessKey)
	}
	if secretKey == "" {
		secretKey = os.Getenv(envSecretKey)
	}
	if (accessKey == "") != (secretKey == "") {
		return "", "", errors.New("--access-key and --secret-key (or " + envAccessKey + " and " + envSecretKey + ") go together")
	}
	return accessKey, secretKey, nil
}
