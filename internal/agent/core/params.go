package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// DecodeParams decodes a request's params into v, rejecting unknown fields so a
// misspelt parameter fails loudly. Absent or null params leave v unchanged.
func DecodeParams(req api.Request, v any) error {
	if len(req.Params) == 0 || bytes.Equal(bytes.TrimSpace(req.Params), []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(req.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("decode params of %s: %v", req.Method, err)
	}
	// Params that name files (a schedule name) check themselves, once, here.
	if c, ok := v.(interface{ Validate() error }); ok {
		if err := c.Validate(); err != nil {
			return BadRequest("params of %s: %v", req.Method, err)
		}
	}
	return nil
}

// BadRequest is the error of a request the agent cannot act on as sent.
func BadRequest(format string, args ...any) *api.Error {
	return &api.Error{Code: api.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// LastLines returns the last n lines of s, for error messages that quote a
// command's output.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
