package acl

import "github.com/wharfmq/wharf/remoting"

// Signer returns a remoting.ClientOptions.Sign that signs every request
// with the account, or nil when accessKey is empty (no ACL account: the
// requests go unsigned).
func Signer(accessKey, secretKey string) func(*remoting.Command) {
	if accessKey == "" {
		return nil
	}
	return func(cmd *remoting.Command) {
		if cmd.ExtFields == nil {
			cmd.ExtFields = make(map[string]string, 2)
		}
		Sign(cmd.ExtFields, cmd.Body, accessKey, secretKey)
	}
}
