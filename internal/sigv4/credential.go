package sigv4

import (
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// credential is the parsed Credential (header) or X-Amz-Credential (query) value:
// <access key>/<yyyymmdd>/<region>/s3/aws4_request.
type credential struct {
	accessKey string
	date      string
	region    string
	scope     string // everything after the access key, exactly as signed
}

// authForm holds how AWS words a malformed credential for each way of signing: the header
// form and the presigned query form answer with different codes and prefixes.
type authForm struct {
	malformed *s3err.Error
	prefix    string
}

var (
	headerForm = authForm{s3err.AuthorizationHeaderMalformed, "The authorization header is malformed;"}
	queryForm  = authForm{s3err.AuthorizationQueryParamsError, "Error parsing the X-Amz-Credential parameter;"}
)

func (f authForm) errorf(format string, args ...any) *s3err.Error {
	return f.malformed.With(f.prefix+" "+format, args...)
}

// parseCredential splits a credential from the right, so that the four scope parts are exact
// and the access key is whatever precedes them.
func parseCredential(s string, f authForm) (credential, error) {
	var parts [4]string
	rest := s
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return credential{}, f.errorf(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
		}
		parts[i] = rest[j+1:]
		rest = rest[:j]
	}
	c := credential{accessKey: rest, date: parts[0], region: parts[1], scope: s[len(rest)+1:]}
	switch {
	case c.accessKey == "" || c.region == "":
		return credential{}, f.errorf(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	case parts[2] != "s3":
		return credential{}, f.errorf(`incorrect service "%s". This endpoint belongs to "s3".`, parts[2])
	case parts[3] != "aws4_request":
		return credential{}, f.errorf(`incorrect terminal "%s". This endpoint uses "aws4_request".`, parts[3])
	}
	return c, nil
}

// checkScope compares the scope with the request time's date and with the server's region.
func (v *Verifier) checkScope(c *credential, amzDate string, f authForm) error {
	if c.date != amzDate[:8] {
		return f.errorf(`Invalid credential date "%s". This date is not the same as X-Amz-Date: "%s".`, c.date, amzDate[:8])
	}
	if v.Region != "" && c.region != v.Region {
		return f.errorf("the region '%s' is wrong; expecting '%s'", c.region, v.Region)
	}
	return nil
}
