package acl

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"sync"
)

// Ext field names of a signed request. Part of the wire format.
const (
	FieldAccessKey     = "AccessKey"
	FieldSignature     = "Signature"
	FieldSecurityToken = "SecurityToken"
	// fieldUniqueKeyQuery is left out of the content by the broker
	// (RocketMQ's MixAll.UNIQUE_MSG_QUERY_FLAG): the Java client adds it
	// after signing.
	fieldUniqueKeyQuery = "_UNIQUE_KEY_QUERY"
)

// contentBuf pools the buffers the signed content is assembled in.
var contentBuf = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// keysBuf pools the key slices sorted for the content.
var keysBuf = sync.Pool{New: func() any { k := make([]string, 0, 16); return &k }}

// appendContent appends what is signed: the values of ext sorted by key,
// the keys skip says to leave out omitted, then body.
func appendContent(dst []byte, ext map[string]string, body []byte, skip func(string) bool) []byte {
	kp := keysBuf.Get().(*[]string)
	keys := (*kp)[:0]
	for k := range ext {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	// Java's TreeMap orders by UTF-16 code units, Go by bytes: the same
	// for the ASCII names of ext fields.
	slices.Sort(keys)
	for _, k := range keys {
		dst = append(dst, ext[k]...)
	}
	clear(keys)
	*kp = keys[:0]
	keysBuf.Put(kp)
	return append(dst, body...)
}

// skipJava is the broker's rule (PlainAccessResource.parse): everything but
// the signature and the unique-key flag. The Java client signs this way,
// SecurityToken included.
func skipJava(k string) bool { return k == FieldSignature || k == fieldUniqueKeyQuery }

// skipGo is the Go client's rule (ACLInterceptor): it signs every ext field
// but leaves SecurityToken out of the content while sending it.
func skipGo(k string) bool { return k == FieldSignature || k == FieldSecurityToken }

// mac returns the HMAC-SHA1 of content under secret.
func mac(content []byte, secret string) []byte {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write(content)
	return h.Sum(nil)
}

// Signature returns RocketMQ's signature of content: base64 (standard, with
// padding) of HMAC-SHA1 keyed with the secret key.
func Signature(content []byte, secretKey string) string {
	return base64.StdEncoding.EncodeToString(mac(content, secretKey))
}

// Content returns the bytes a request's signature covers, as the broker
// computes them.
func Content(ext map[string]string, body []byte) []byte {
	return appendContent(nil, ext, body, skipJava)
}

// Sign adds AccessKey and Signature to ext (which must not be nil) for a
// request with this body, as RocketMQ's clients do.
func Sign(ext map[string]string, body []byte, accessKey, secretKey string) {
	ext[FieldAccessKey] = accessKey
	bp := contentBuf.Get().(*[]byte)
	c := appendContent((*bp)[:0], ext, body, skipJava)
	ext[FieldSignature] = Signature(c, secretKey)
	*bp = c[:0]
	contentBuf.Put(bp)
}

// verify reports whether ext carries a valid signature under secret: the
// broker's content first, then, when they differ (a SecurityToken or the
// unique-key flag is present), the Go client's.
func verify(ext map[string]string, body []byte, secretKey string) bool {
	sig, ok := ext[FieldSignature]
	if !ok {
		return false
	}
	want, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil {
		return false
	}
	bp := contentBuf.Get().(*[]byte)
	defer func() { contentBuf.Put(bp) }()
	c := appendContent((*bp)[:0], ext, body, skipJava)
	*bp = c[:0]
	if hmac.Equal(mac(c, secretKey), want) {
		return true
	}
	_, tok := ext[FieldSecurityToken]
	_, uniq := ext[fieldUniqueKeyQuery]
	if !tok && !uniq {
		return false
	}
	c = appendContent((*bp)[:0], ext, body, skipGo)
	*bp = c[:0]
	return hmac.Equal(mac(c, secretKey), want)
}
