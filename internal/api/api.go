package api

import (
	"encoding/json"
	"fmt"
)

// ProtocolVersion is the version of this contract. Provider and agent must use
// the same one; see the package documentation for when to change it.
const ProtocolVersion = 2

// Error codes carried in Error.Code. They are stable strings the provider can
// switch on; the Message is for a person.
const (
	// CodeProtocolMismatch means the request used another ProtocolVersion than the agent.
	CodeProtocolMismatch = "protocol_mismatch"
	// CodeBadRequest means the request could not be decoded or its parameters are invalid.
	CodeBadRequest = "bad_request"
	// CodeUnknownMethod means the agent has no handler for the requested method.
	CodeUnknownMethod = "unknown_method"
	// CodeInternal means the agent failed while handling a valid request.
	CodeInternal = "internal"
	// CodeNotFound means the object the request names does not exist on the host.
	CodeNotFound = "not_found"
)

// Operator identifies who asks for a change; the agent records it in the audit log.
type Operator struct {
	LocalUser      string `json:"local_user,omitempty"`      // User running Terraform on the operator's machine.
	SSHUser        string `json:"ssh_user,omitempty"`        // User the provider logged in as on the host.
	KeyFingerprint string `json:"key_fingerprint,omitempty"` // SHA256 fingerprint of the key (or certificate) used to log in.
}

// Request is one call from the provider to `steward-agent rpc`.
type Request struct {
	Protocol int             `json:"protocol"`
	Method   string          `json:"method"`
	Operator Operator        `json:"operator"`
	Params   json.RawMessage `json:"params,omitempty"`
}

// Response is the agent's answer to one Request. Exactly one of Result and
// Error is set.
type Response struct {
	Protocol int             `json:"protocol"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    *Error          `json:"error,omitempty"`
}

// Error is a failure reported by the agent. Code is one of the Code constants;
// Message is written for the operator.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the code and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// NewRequest builds a Request for method with params encoded as JSON. A nil
// params sends no parameters.
func NewRequest(method string, op Operator, params any) (Request, error) {
	req := Request{Protocol: ProtocolVersion, Method: method, Operator: op}
	if params != nil {
		raw, err := json.Marshal(params)
		if err != nil {
			return Request{}, fmt.Errorf("encode params of %s: %w", method, err)
		}
		req.Params = raw
	}
	return req, nil
}

// Decode stores the Result in v. It returns the agent's *Error when the
// response carries one, and a CodeProtocolMismatch *Error when the response
// speaks another protocol.
func (r Response) Decode(v any) error {
	if r.Error != nil {
		return r.Error
	}
	if r.Protocol != ProtocolVersion {
		return &Error{
			Code:    CodeProtocolMismatch,
			Message: fmt.Sprintf("steward-agent answered with protocol %d, this provider speaks protocol %d: apply steward_host to upgrade the agent on this host", r.Protocol, ProtocolVersion),
		}
	}
	if len(r.Result) == 0 {
		return &Error{Code: CodeInternal, Message: "response has neither a result nor an error"}
	}
	if err := json.Unmarshal(r.Result, v); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	return nil
}
